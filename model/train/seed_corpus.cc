#include "model/train/seed_corpus.h"

namespace wordbridge {

const std::vector<SentencePair>& SeedToyPairs() {
  static const std::vector<SentencePair> pairs = {
      {"我 爱 自然 语言 处理", "I love natural language processing"},
      {"今天 天气 很 好", "Today weather is good"},
      {"机器 学习 很 有趣", "Machine learning is interesting"},
      {"深度 学习 很 强大", "Deep learning is powerful"},
      {"人工 智能 改变 世界", "AI changes the world"},
  };
  return pairs;
}

}  // namespace wordbridge
