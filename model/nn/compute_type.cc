#include "model/nn/compute_type.h"

#include "model/common/errors.h"

namespace wordbridge {

const char* ComputeTypeName(ComputeType type) {
  switch (type) {
    case ComputeType::kFloat32:
      return "float32";
    case ComputeType::kBFloat16:
      return "bfloat16";
    case ComputeType::kInt8:
      return "int8";
  }
  return "?";
}

const char* AcceptedComputeTypes() { return "float32, bfloat16, int8, default"; }

ComputeType ParseComputeType(const std::string& name) {
  if (name == "float32") return ComputeType::kFloat32;
  if (name == "bfloat16") return ComputeType::kBFloat16;
  if (name == "int8") return ComputeType::kInt8;
  if (name == "default") return kDefaultComputeType;
  throw InvalidArgumentError("unknown compute type '" + name + "'; accepted: " + AcceptedComputeTypes());
}

}  // namespace wordbridge
