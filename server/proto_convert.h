// Conversions between wordbridge.v1 messages and the model library's option structs. Zero or empty
// proto fields mean "the default"; the model library validates the result.
#pragma once

#include "model/store/model_bundle.h"
#include "model/train/trainer.h"
#include "wordbridge/v1/wordbridge.pb.h"

namespace wordbridge {

ModelConfig ConfigFromProto(const v1::ModelConfig& proto);
void ConfigToProto(const ModelConfig& config, v1::ModelConfig* proto);
// Starts from the architecture's defaults (TrainingOptions::ForArchitecture).
TrainingOptions TrainingOptionsFromProto(const v1::TrainingOptions& proto, const std::string& architecture);
TranslationOptions TranslationOptionsFromProto(const v1::TranslateOptions& proto);
Side SideFromProto(v1::Side side);

}  // namespace wordbridge
