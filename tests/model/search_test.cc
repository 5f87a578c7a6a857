// Decoding: greedy and beam agree at beam 1, beams rank and stop properly, attention has the right
// shape, and unknown outputs are replaced from the source.
#include <gtest/gtest.h>

#include <algorithm>

#include "model/common/errors.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

const std::vector<std::string> kSentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "机器 学习 很 有趣",
                                             "深度 学习 很 强大", "人工 智能 改变 世界", "学习 很 好"};

class SearchTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::shared_ptr<const ModelBundle> Bundle() const { return GetParam() == "seed" ? SeedToy() : AttentionToy(); }
};

TEST_P(SearchTest, BeamOfOneEqualsGreedy) {
  auto bundle = Bundle();
  TranslationOptions greedy;
  auto expected = bundle->Translate(kSentences, greedy, nullptr);
  // BeamSearch with one beam, called directly (MakeSearch would pick GreedySearch).
  auto source = torch::zeros({1, 5}, torch::kInt64);
  auto ids = bundle->vocabulary(Side::kSource).Encode(SplitWhitespace(kSentences[0]));
  for (size_t i = 0; i < ids.size(); ++i) source[0][i] = ids[i];
  SearchOptions one;
  one.beam_size = 1;
  auto beam = BeamSearch().Search(bundle->network(), source, torch::tensor({5}, torch::kInt64), {20}, one);
  auto greedy_ids = GreedySearch().Search(bundle->network(), source, torch::tensor({5}, torch::kInt64), {20}, one);
  EXPECT_EQ(beam[0][0].ids, greedy_ids[0][0].ids);
  // And through the bundle at beam 1 vs greedy, every sentence.
  TranslationOptions beam_one;
  beam_one.beam_size = 1;
  auto again = bundle->Translate(kSentences, beam_one, nullptr);
  for (size_t i = 0; i < kSentences.size(); ++i) EXPECT_EQ(again[i].hypotheses[0].text, expected[i].hypotheses[0].text);
}

TEST_P(SearchTest, BeamReturnsNBestSortedAndBatchIndependent) {
  auto bundle = Bundle();
  TranslationOptions options;
  options.beam_size = 4;
  options.n_best = 3;
  auto batched = bundle->Translate(kSentences, options, nullptr);
  ASSERT_EQ(batched.size(), kSentences.size());
  for (size_t i = 0; i < kSentences.size(); ++i) {
    ASSERT_GE(batched[i].hypotheses.size(), 1u);
    ASSERT_LE(batched[i].hypotheses.size(), 3u);
    for (size_t h = 1; h < batched[i].hypotheses.size(); ++h) {
      EXPECT_GE(batched[i].hypotheses[h - 1].score, batched[i].hypotheses[h].score);
    }
    // A sentence decodes the same alone as in a batch.
    auto alone = bundle->Translate({kSentences[i]}, options, nullptr);
    EXPECT_EQ(alone[0].hypotheses[0].text, batched[i].hypotheses[0].text);
  }
}

TEST_P(SearchTest, AbandonedSentencesLeaveTheBatchAndTheOthersAreUnchanged) {
  auto bundle = Bundle();
  for (int beam : {1, 3}) {
    TranslationOptions options;
    options.beam_size = beam;
    std::vector<SourceSentence> sources;
    for (size_t i = 0; i < kSentences.size(); ++i) sources.push_back(bundle->PrepareSource(kSentences[i], i, options));
    std::vector<const SourceSentence*> batch;
    for (const auto& s : sources) batch.push_back(&s);
    auto expected = bundle->DecodeBatch(batch, options);
    // Sentence 1 is abandoned from the start; sentence 4 after the search has asked about it twice.
    int asked_about_4 = 0;
    options.abandoned = [&](int64_t sentence) { return sentence == 1 || (sentence == 4 && ++asked_about_4 > 2); };
    auto decoded = bundle->DecodeBatch(batch, options);
    ASSERT_EQ(decoded.size(), kSentences.size());
    EXPECT_TRUE(decoded[1].hypotheses.empty()) << "beam " << beam;
    EXPECT_TRUE(decoded[4].hypotheses.empty()) << "beam " << beam;
    EXPECT_LE(asked_about_4, 4) << "an abandoned sentence is not asked about again once it left";
    for (size_t i : {0, 2, 3, 5}) {
      ASSERT_EQ(decoded[i].hypotheses.size(), expected[i].hypotheses.size());
      EXPECT_EQ(decoded[i].hypotheses[0].text, expected[i].hypotheses[0].text) << "beam " << beam << ", sentence " << i;
      EXPECT_NEAR(decoded[i].hypotheses[0].score, expected[i].hypotheses[0].score, 1e-5);  // batch shape moves the last bits
    }
  }
}

TEST_P(SearchTest, MaxLengthCapsOutput) {
  auto bundle = Bundle();
  for (int beam : {1, 3}) {
    TranslationOptions options;
    options.beam_size = beam;
    options.max_length = 2;
    auto out = bundle->Translate(kSentences, options, nullptr);
    for (const auto& t : out) EXPECT_LE(t.hypotheses[0].tokens.size(), 2u);
  }
}

TEST_P(SearchTest, EmptySentenceAndLimitsAreHandled) {
  auto bundle = Bundle();
  auto out = bundle->Translate({"", "今天 天气 很 好"}, TranslationOptions{}, nullptr);
  EXPECT_EQ(out[0].hypotheses.at(0).text, "");
  TranslationOptions bad;
  bad.beam_size = 0;
  EXPECT_THROW(bundle->Translate({"今天"}, bad, nullptr), InvalidArgumentError);
  TranslationOptions small;
  small.max_source_tokens = 2;
  EXPECT_THROW(bundle->Translate({"今天 天气 很 好"}, small, nullptr), InvalidArgumentError);
  StopToken stop;
  stop.RequestStop();
  EXPECT_THROW(bundle->Translate({"今天 天气 很 好"}, TranslationOptions{}, &stop), CancelledError);
  StopToken expired(StopToken::Clock::now() - std::chrono::seconds(1));
  EXPECT_THROW(bundle->Translate({"今天 天气 很 好"}, TranslationOptions{}, &expired), DeadlineExceededError);
}

INSTANTIATE_TEST_SUITE_P(Architectures, SearchTest, ::testing::Values("seed", "attention"));

TEST(AttentionTest, ShapesOfEncoderAndAttention) {
  auto bundle = AttentionToy();
  auto& net = bundle->network();
  torch::NoGradGuard no_grad;
  auto source = torch::tensor({{4, 5, 6, 0}, {7, 8, 9, 10}}, torch::kInt64);
  EncoderOutput encoded;
  auto state = net.Encode(source, torch::tensor({3, 4}, torch::kInt64), &encoded);
  EXPECT_EQ(encoded.memory.sizes(), (std::vector<int64_t>{2, 4, 32}));
  EXPECT_EQ(encoded.context.sizes(), (std::vector<int64_t>{2, 32}));
  EXPECT_EQ(state.h.sizes(), (std::vector<int64_t>{1, 2, 32}));
  torch::Tensor attention;
  auto logits = net.DecodeStep(encoded, &state, torch::tensor({1, 1}, torch::kInt64), &attention, nullptr);
  EXPECT_EQ(logits.size(1), bundle->config().target_vocab_size);
  EXPECT_EQ(attention.sizes(), (std::vector<int64_t>{2, 4}));
  EXPECT_NEAR(attention[0].sum().item<float>(), 1.0f, 1e-5);
  EXPECT_LT(attention[0][3].item<float>(), 1e-6);  // padding gets no attention

  TranslationOptions options;
  options.record_attention = true;
  auto out = bundle->Translate({"今天 天气 很 好"}, options, nullptr);
  const auto& hyp = out[0].hypotheses[0];
  EXPECT_EQ(hyp.attention.size(), hyp.tokens.size() * 4);
}

TEST(AttentionTest, UnknownOutputsAreReplacedBySourceTokens) {
  // Target words seen once become <UNK>, so the model learns to emit <UNK> for them.
  auto config = SmallAttentionConfig(0.0);
  config.min_frequency = 2;
  auto bundle = TrainToy(config, SmallAttentionSchedule(30));
  const std::string sentence = "我 爱 自然 语言 处理";
  TranslationOptions keep;
  auto kept = bundle->Translate({sentence}, keep, nullptr)[0].hypotheses[0];
  ASSERT_TRUE(std::count(kept.tokens.begin(), kept.tokens.end(), "<UNK>") > 0) << kept.text;
  TranslationOptions replace;
  replace.replace_unknown = true;
  auto replaced = bundle->Translate({sentence}, replace, nullptr)[0].hypotheses[0];
  ASSERT_EQ(replaced.tokens.size(), kept.tokens.size());
  auto source_tokens = SplitWhitespace(sentence);
  for (size_t i = 0; i < kept.tokens.size(); ++i) {
    if (kept.tokens[i] == "<UNK>") {
      EXPECT_NE(std::find(source_tokens.begin(), source_tokens.end(), replaced.tokens[i]), source_tokens.end());
    } else {
      EXPECT_EQ(replaced.tokens[i], kept.tokens[i]);
    }
  }
}

}  // namespace
}  // namespace wordbridge
