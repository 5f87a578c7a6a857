// The JSON files of a model version (model/store): config.json through ModelConfig::FromJson, and
// metrics.json / training.json through ParseNumbersJson, on arbitrary bytes. A config it accepts is
// valid (Validate) and survives ToJson / FromJson unchanged; anything else is FailedPreconditionError
// or InvalidArgumentError, never a crash, and damaged number files read as empty.
#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/nn/model_config.h"
#include "model/store/model_bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wordbridge;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ParseNumbersJson(text);
  try {
    const ModelConfig config = ModelConfig::FromJson(text);
    config.Validate();
    const ModelConfig again = ModelConfig::FromJson(config.ToJson());
    FUZZ_CHECK(again.ToJson() == config.ToJson());
  } catch (const FailedPreconditionError&) {
  } catch (const InvalidArgumentError&) {
  }
  return 0;
}
