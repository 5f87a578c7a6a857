#include "model/embed/vector_io.h"

#include <cstdio>

namespace wordbridge {

void WriteWord2VecText(const WordSpace& space, std::ostream& out) {
  out << space.size() << ' ' << space.dimension() << '\n';
  char number[32];
  for (int64_t w = 0; w < space.size(); ++w) {
    out << space.words().word(w);
    for (float v : space.Row(w)) {
      // %.6g keeps float32's precision to about 1e-6 relative, in few bytes.
      std::snprintf(number, sizeof number, " %.6g", v);
      out << number;
    }
    out << '\n';
  }
}

}  // namespace wordbridge
