// Compute types and pre-packed decoder weights: PackedLinear against at::linear, greedy output of
// every compute type against float32 on the toy models, reduced-precision log-probabilities within a
// stated tolerance, and packed copies shared by concurrent threads.
#include <gtest/gtest.h>

#include <thread>

#include "model/common/errors.h"
#include "model/decode/greedy_batch.h"
#include "model/serve/compute_slots.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

const std::vector<std::string> kSentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "机器 学习 很 有趣",
                                             "深度 学习 很 强大", "人工 智能 改变 世界", "学习 很 好"};
constexpr ComputeType kTypes[] = {ComputeType::kFloat32, ComputeType::kBFloat16, ComputeType::kInt8};

std::vector<std::string> Greedy(const ModelBundle& bundle, std::optional<ComputeType> type) {
  TranslationOptions options;
  options.compute_type = type;
  std::vector<std::string> texts;
  for (const auto& t : bundle.Translate(kSentences, options, nullptr)) texts.push_back(t.hypotheses[0].text);
  return texts;
}

// The network's own float32 weights, unpacked (the path training's evaluation takes).
std::vector<std::string> GreedyUnpacked(const ModelBundle& bundle) {
  c10::InferenceMode inference;
  std::vector<std::string> texts;
  for (size_t i = 0; i < kSentences.size(); ++i) {
    TranslationOptions options;
    auto source = bundle.PrepareSource(kSentences[i], i, options);
    const SourceBatch batch = MakeSourceBatch({&source}, options);
    GreedyBatch decoding(bundle.network(), false, nullptr);
    decoding.Add(batch.source, batch.lengths, batch.max_lengths, {0});
    std::vector<GreedyBatch::Finished> finished;
    while (finished.empty()) finished = decoding.Step();
    texts.push_back(bundle.ToTranslation(source, {finished[0].hypothesis}, options).hypotheses[0].text);
  }
  return texts;
}

TEST(ComputeTypeTest, NamesParseAndUnknownNamesListTheAcceptedOnes) {
  for (ComputeType type : kTypes) EXPECT_EQ(ParseComputeType(ComputeTypeName(type)), type);
  EXPECT_EQ(ParseComputeType("default"), kDefaultComputeType);
  try {
    ParseComputeType("float16");
    FAIL() << "float16 was accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("float32, bfloat16, int8, default"), std::string::npos) << e.what();
  }
}

TEST(PackedLinearTest, AgreesWithLinearForEveryTypeAndRowCount) {
  torch::manual_seed(7);
  auto weight = torch::randn({300, 96}) * 0.1;
  auto bias = torch::randn({300});
  // Relative tolerance of each type on these sums of 96 products (float rounding; bfloat16's
  // 8-bit mantissa; 7-bit quantisation of both operands).
  const std::map<ComputeType, double> tolerance = {
      {ComputeType::kFloat32, 1e-5}, {ComputeType::kBFloat16, 2e-2}, {ComputeType::kInt8, 3e-2}};
  for (ComputeType type : kTypes) {
    for (bool with_bias : {true, false}) {
      PackedLinear packed(weight, with_bias ? bias : torch::Tensor(), type);
      EXPECT_EQ(packed.out_features(), 300);
      EXPECT_EQ(packed.in_features(), 96);
      for (int64_t rows : {0, 1, 5, 64, 321}) {
        auto x = torch::randn({rows, 96});
        auto expected = torch::linear(x, weight, with_bias ? bias : torch::Tensor());
        auto got = packed.Forward(x);
        ASSERT_EQ(got.sizes(), expected.sizes());
        if (rows == 0) continue;
        const double scale = expected.abs().max().item<double>();
        EXPECT_LT((got - expected).abs().max().item<double>(), tolerance.at(type) * scale)
            << ComputeTypeName(type) << ", " << rows << " rows";
      }
    }
  }
}

class ComputeTypeGreedyTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::shared_ptr<const ModelBundle> Bundle() const { return GetParam() == "seed" ? SeedToy() : AttentionToy(); }
};

TEST_P(ComputeTypeGreedyTest, EveryComputeTypeGivesFloat32sGreedyOutput) {
  auto bundle = Bundle();
  const auto reference = GreedyUnpacked(*bundle);
  for (ComputeType type : kTypes) EXPECT_EQ(Greedy(*bundle, type), reference) << ComputeTypeName(type);
  EXPECT_EQ(Greedy(*bundle, std::nullopt), reference) << "default";
}

INSTANTIATE_TEST_SUITE_P(Architectures, ComputeTypeGreedyTest, ::testing::Values("seed", "attention"));

// Log-probabilities of every target-vocabulary entry along the reference (float32, unpacked) greedy
// path, teacher-forced, for `packed` (null: the unpacked network).
torch::Tensor PathLogProbs(const ModelBundle& bundle, const PackedDecoder* packed) {
  c10::InferenceMode inference;
  auto& net = bundle.network();
  TranslationOptions options;
  std::vector<SourceSentence> sources;
  std::vector<const SourceSentence*> pointers;
  for (size_t i = 0; i < kSentences.size(); ++i) sources.push_back(bundle.PrepareSource(kSentences[i], i, options));
  for (const auto& s : sources) pointers.push_back(&s);
  const SourceBatch batch = MakeSourceBatch(pointers, options);
  EncoderOutput encoded;
  auto state = net.Encode(batch.source, batch.lengths, &encoded);
  auto tokens = torch::full({batch.source.size(0)}, Vocabulary::kSos, torch::kInt64);
  std::vector<torch::Tensor> steps;
  DecoderState reference_state = state;
  for (int t = 0; t < 8; ++t) {
    auto log_probs = torch::log_softmax(net.DecodeStep(encoded, &state, tokens, nullptr, packed), 1);
    steps.push_back(log_probs);
    // The path: the unpacked network's choice, so every variant sees the same inputs.
    auto reference = net.DecodeStep(encoded, &reference_state, tokens, nullptr, nullptr);
    tokens = reference.argmax(1);
    state = reference_state;
  }
  return torch::stack(steps);
}

TEST(ComputeTypeTest, LogProbabilitiesStayWithinToleranceOfFloat32) {
  // A small model trained on the toy pairs (the attention architecture, tied output layer).
  auto bundle = AttentionToy();
  const auto reference = PathLogProbs(*bundle, nullptr);
  // Stated tolerances, over the entries the model gives at least 1e-4 (rarer ones matter to no
  // search): the largest and the mean absolute log-probability difference per step. Measured on this
  // model: bfloat16 0.055 / 0.011, int8 0.20 / 0.029 (float32 4e-6 / 7e-7).
  const std::map<ComputeType, std::pair<double, double>> tolerance = {{ComputeType::kFloat32, {1e-4, 1e-5}},
                                                                      {ComputeType::kBFloat16, {0.1, 0.02}},
                                                                      {ComputeType::kInt8, {0.3, 0.05}}};
  const auto relevant = reference.gt(std::log(1e-4));
  for (ComputeType type : kTypes) {
    const auto difference = (PathLogProbs(*bundle, &bundle->Packed(type)) - reference).abs().masked_select(relevant);
    EXPECT_LT(difference.max().item<double>(), tolerance.at(type).first) << ComputeTypeName(type);
    EXPECT_LT(difference.mean().item<double>(), tolerance.at(type).second) << ComputeTypeName(type);
  }
}

TEST(ComputeTypeTest, PackedCopiesAreMadeOnceAndSharedByConcurrentThreads) {
  // A fresh bundle over the toy network, so the first Packed calls race each other here.
  const auto& toy = *AttentionToy();
  ModelBundle bundle("toy", "2", PartsOf(toy));
  const auto expected = GreedyUnpacked(toy);
  std::vector<const PackedDecoder*> seen(4, nullptr);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SetThreadComputeThreads(1);
      const ComputeType type = t % 2 == 0 ? ComputeType::kInt8 : ComputeType::kFloat32;
      seen[t] = &bundle.Packed(type);
      for (int round = 0; round < 10; ++round) mismatches[t] += Greedy(bundle, type) != expected;
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(seen[0], seen[2]);
  EXPECT_EQ(seen[1], seen[3]);
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_EQ(seen[0]->type, ComputeType::kInt8);
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace wordbridge
