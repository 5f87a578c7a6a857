// Conversions between wordbridge.v1 messages and the model library's option structs. Zero or empty
// proto fields mean "the default"; the model library validates the result.
#pragma once

#include "model/jobs/training_jobs.h"
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
// A job's progress message; `job_id` is set on every message.
v1::TrainProgress ProgressToProto(const std::string& job_id, const JobProgress& progress);
void JobRecordToProto(const JobRecord& record, v1::JobInfo* proto);

}  // namespace wordbridge
