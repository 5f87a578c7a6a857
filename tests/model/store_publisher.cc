// Test helper for store_test's two-process case: a second process that publishes into a shared store
// and rescans it between publishes, as a replica does.
// usage: store_publisher ROOT NAME SOURCE_DIR COUNT
// Prints "published VERSION" per publish and "problem TEXT" per line a rescan reported; exits 1 on
// any error.
#include <torch/torch.h>

#include <iostream>
#include <string>

#include "model/store/model_store.h"
#include "tests/model/test_util.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: store_publisher ROOT NAME SOURCE_DIR COUNT" << std::endl;
    return 2;
  }
  torch::set_num_threads(1);
  try {
    wordbridge::ModelStore store(argv[1]);
    auto source = wordbridge::ModelBundle::Load(argv[2], "1", argv[3]);
    const int count = std::stoi(argv[4]);
    for (int i = 0; i < count; ++i) {
      auto bundle = store.Publish(argv[2], wordbridge::PartsOf(*source));
      std::cout << "published " << bundle->version() << std::endl;
      for (const auto& problem : store.LoadAll()) std::cout << "problem " << problem << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "store_publisher: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
