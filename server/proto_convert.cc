#include "server/proto_convert.h"

#include "model/common/errors.h"

namespace wordbridge {

ModelConfig ConfigFromProto(const v1::ModelConfig& p) {
  ModelConfig config = ModelConfig::ForArchitecture(p.architecture().empty() ? "attention" : p.architecture());
  if (!p.tokenizer().empty()) config.tokenizer = p.tokenizer();
  if (p.embed_dim() != 0) config.embed_dim = p.embed_dim();
  if (p.hidden_dim() != 0) config.hidden_dim = p.hidden_dim();
  if (p.num_layers() != 0) config.num_layers = p.num_layers();
  if (p.dropout() != 0) config.dropout = p.dropout();
  if (p.tie_embeddings()) config.tie_embeddings = true;
  if (p.has_bridge()) config.bridge = p.bridge();
  if (p.max_vocab_size() != 0) config.max_vocab_size = p.max_vocab_size();
  if (p.min_frequency() != 0) config.min_frequency = p.min_frequency();
  config.Validate();
  return config;
}

void ConfigToProto(const ModelConfig& c, v1::ModelConfig* p) {
  p->set_architecture(c.architecture);
  p->set_tokenizer(c.tokenizer);
  p->set_embed_dim(static_cast<int32_t>(c.embed_dim));
  p->set_hidden_dim(static_cast<int32_t>(c.hidden_dim));
  p->set_num_layers(static_cast<int32_t>(c.num_layers));
  p->set_dropout(static_cast<float>(c.dropout));
  p->set_tie_embeddings(c.tie_embeddings);
  p->set_bridge(c.bridge);
  p->set_max_vocab_size(static_cast<int32_t>(c.max_vocab_size));
  p->set_min_frequency(static_cast<int32_t>(c.min_frequency));
}

TrainingOptions TrainingOptionsFromProto(const v1::TrainingOptions& p, const std::string& architecture) {
  TrainingOptions options = TrainingOptions::ForArchitecture(architecture);
  if (p.epochs() != 0) options.epochs = p.epochs();
  if (p.batch_size() != 0) {
    options.batch_size = p.batch_size();
    options.batch_tokens = 0;  // sentence batches asked for: unless token batches are asked for too
  }
  if (p.batch_tokens() != 0) options.batch_tokens = p.batch_tokens();
  if (p.learning_rate() != 0) options.learning_rate = p.learning_rate();
  if (p.seed() != 0) options.seed = p.seed();
  if (p.max_minutes() != 0) options.max_minutes = p.max_minutes();
  if (p.clip_norm() != 0) options.clip_norm = p.clip_norm();
  if (p.label_smoothing() != 0) options.label_smoothing = p.label_smoothing();
  if (p.patience() != 0) options.patience = p.patience();
  if (p.init_range() != 0) options.init_range = p.init_range();
  // The vector files are paths under the data directory: the service resolves them (TrainJobSpec).
  options.freeze_source_embeddings = p.freeze_source_embeddings();
  options.freeze_target_embeddings = p.freeze_target_embeddings();
  switch (p.precision()) {
    case v1::TrainingOptions::PRECISION_DEFAULT:
      break;
    case v1::TrainingOptions::MIXED:
      options.mixed_precision = true;
      break;
    case v1::TrainingOptions::FLOAT32:
      options.mixed_precision = false;
      break;
    default:
      throw InvalidArgumentError("unknown training precision " + std::to_string(p.precision()) +
                                 " (expected MIXED or FLOAT32)");
  }
  if (!p.index_kind().empty()) options.index_kind = p.index_kind();
  if (p.dev_fraction() != 0) {
    options.dev_holdout_fraction = p.dev_fraction();
    options.min_pairs_for_dev_holdout = 0;  // asked for: whatever the corpus size
  }
  options.Validate();
  return options;
}

TranslationOptions TranslationOptionsFromProto(const v1::TranslateOptions& p) {
  TranslationOptions options;
  if (p.beam_size() != 0) options.beam_size = p.beam_size();
  if (p.n_best() != 0) options.n_best = p.n_best();
  if (p.max_length() != 0) options.max_length = p.max_length();
  options.record_attention = p.return_attention();
  options.replace_unknown = p.replace_unknown();
  if (p.length_penalty() != 0) options.length_penalty = p.length_penalty();
  if (!p.compute_type().empty()) options.compute_type = ParseComputeType(p.compute_type());
  options.use_shortlist = p.use_shortlist();
  options.Validate();
  return options;
}

Side SideFromProto(v1::Side side) {
  switch (side) {
    case v1::SIDE_UNSPECIFIED:
    case v1::SOURCE:
      return Side::kSource;
    case v1::TARGET:
      return Side::kTarget;
    default:
      throw InvalidArgumentError("unknown side " + std::to_string(side));
  }
}

v1::TrainProgress ProgressToProto(const std::string& job_id, const JobProgress& p) {
  v1::TrainProgress proto;
  proto.set_job_id(job_id);
  switch (p.stage) {
    case JobProgress::Stage::kStarted: proto.set_stage(v1::TrainProgress::STARTED); break;
    case JobProgress::Stage::kEpoch: proto.set_stage(v1::TrainProgress::EPOCH); break;
    case JobProgress::Stage::kDone: proto.set_stage(v1::TrainProgress::DONE); break;
  }
  proto.set_epoch(p.epoch);
  proto.set_total_epochs(p.total_epochs);
  proto.set_loss(p.loss);
  proto.set_tokens_per_second(p.tokens_per_second);
  proto.set_dev_bleu(p.dev_bleu);
  proto.set_elapsed_seconds(p.elapsed_seconds);
  proto.set_eta_seconds(p.eta_seconds);
  proto.set_version(p.version);
  proto.set_message(p.message);
  proto.set_training_pairs(p.training_pairs);
  proto.set_skipped_pairs(p.skipped_pairs);
  return proto;
}

void JobRecordToProto(const JobRecord& r, v1::JobInfo* proto) {
  proto->set_job_id(r.id);
  proto->set_model(r.model);
  v1::JobInfo::State state = v1::JobInfo::STATE_UNSPECIFIED;
  switch (r.state) {
    case JobState::kQueued: state = v1::JobInfo::QUEUED; break;
    case JobState::kRunning: state = v1::JobInfo::RUNNING; break;
    case JobState::kSucceeded: state = v1::JobInfo::SUCCEEDED; break;
    case JobState::kFailed: state = v1::JobInfo::FAILED; break;
    case JobState::kCancelled: state = v1::JobInfo::CANCELLED; break;
    case JobState::kInterrupted: state = v1::JobInfo::INTERRUPTED; break;
  }
  proto->set_state(state);
  proto->set_epoch(r.epoch);
  proto->set_total_epochs(r.total_epochs);
  proto->set_loss(r.loss);
  proto->set_best_dev_bleu(r.best_dev_bleu);
  proto->set_start_time(UnixSeconds(r.start_time));
  proto->set_end_time(UnixSeconds(r.end_time));
  proto->set_elapsed_seconds(r.ElapsedSeconds());
  proto->set_version(r.version);
  const ErrorStatus final_status = r.FinalStatus();
  if (!final_status.ok()) {
    proto->set_error_code(ErrorCodeName(final_status.code));
    proto->set_error_message(final_status.message);
  }
  proto->set_message(r.message);
  proto->set_training_pairs(r.training_pairs);
  proto->set_host(r.owner.host);
  proto->set_pid(r.owner.pid);
}

}  // namespace wordbridge
