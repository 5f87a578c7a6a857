#include "model/nn/packed_linear.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

#include "model/common/errors.h"

namespace wordbridge {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// Per-thread growable buffers: the converted input and the primitive's scratch memory of a call.
struct ThreadBuffers {
  std::vector<uint16_t> bf16;
  std::vector<uint8_t> u8;
  std::vector<float> row_scales;
  std::vector<uint8_t> scratch;
};
ThreadBuffers& Buffers() {
  thread_local ThreadBuffers buffers;
  return buffers;
}

// float32 -> bfloat16, rounding to nearest even (as oneDNN's reorder does for the weights).
inline uint16_t ToBFloat16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

dt WeightType(ComputeType type) {
  switch (type) {
    case ComputeType::kBFloat16:
      return dt::bf16;
    case ComputeType::kInt8:
      return dt::s8;
    case ComputeType::kFloat32:
      break;
  }
  return dt::f32;
}

dt SourceType(ComputeType type) { return type == ComputeType::kInt8 ? dt::u8 : WeightType(type); }

}  // namespace

struct PackedLinear::Impl {
  ComputeType type;
  int64_t n = 0, k = 0;
  int64_t row_multiple = 1;
  dnnl::memory::desc weights_md;     // the blocked layout the kernels asked for
  std::shared_ptr<uint8_t> weights;  // packed weights (64-byte aligned)
  size_t weights_bytes = 0;
  bool has_bias = false;
  // float32/bfloat16: the bias, added by the kernel. int8: the kernel adds -128 x the column sums of
  // the quantised weights (the zero point's share) and scales by `weight_scales`; `bias` is added
  // after each row is rescaled by its input scale.
  std::vector<float> bias;
  std::vector<float> kernel_bias;
  std::vector<float> weight_scales;

  std::mutex mutex;
  struct Kernel {
    dnnl::matmul matmul;
    size_t scratch_bytes;
  };
  std::map<std::pair<int64_t, int>, std::shared_ptr<const Kernel>> kernels;  // by (rows, threads)

  dnnl::matmul::primitive_desc Describe(int64_t m, const dnnl::memory::desc& weights_desc) const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (type == ComputeType::kInt8) attr.set_output_scales(/*mask=*/2, weight_scales);
    const dnnl::memory::desc src({m, k}, SourceType(type), tag::ab);
    const dnnl::memory::desc dst({m, n}, dt::f32, tag::ab);
    if (type == ComputeType::kInt8 || has_bias) {
      const dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
      return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_desc, bias_md, dst), attr, CpuEngine());
    }
    return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, weights_desc, dst), attr, CpuEngine());
  }

  std::shared_ptr<const Kernel> KernelFor(int64_t m) {
    const std::pair<int64_t, int> key{m, omp_get_max_threads()};
    std::lock_guard lock(mutex);
    auto it = kernels.find(key);
    if (it != kernels.end()) return it->second;
    auto pd = Describe(m, weights_md);
    auto kernel = std::make_shared<const Kernel>(Kernel{dnnl::matmul(pd), pd.scratchpad_desc().get_size()});
    kernels.emplace(key, kernel);
    return kernel;
  }
};

PackedLinear::PackedLinear(const torch::Tensor& weight_in, const torch::Tensor& bias_in, ComputeType type,
                           int64_t row_multiple)
    : impl_(std::make_unique<Impl>()) {
  torch::NoGradGuard no_grad;
  auto weight = weight_in.detach().to(torch::kFloat32).contiguous();
  if (weight.dim() != 2) throw InvalidArgumentError("PackedLinear needs a 2-D weight");
  Impl& p = *impl_;
  p.type = type;
  p.row_multiple = std::max<int64_t>(1, row_multiple);
  p.n = weight.size(0);
  p.k = weight.size(1);
  p.has_bias = bias_in.defined();
  if (p.has_bias) {
    auto bias = bias_in.detach().to(torch::kFloat32).contiguous();
    p.bias.assign(bias.data_ptr<float>(), bias.data_ptr<float>() + p.n);
  }

  // The source of the reorder: W [N, K] row-major is oneDNN's K x N weights in "ba" order.
  torch::Tensor plain = weight;
  if (type == ComputeType::kInt8) {
    auto scales = weight.abs().amax(1).clamp_min(1e-12) / 127.0;  // [N]
    plain = torch::round(weight / scales.unsqueeze(1)).clamp(-127, 127).to(torch::kInt8).contiguous();
    auto column_sums = plain.to(torch::kInt64).sum(1).to(torch::kFloat32).contiguous();
    p.weight_scales.assign(scales.data_ptr<float>(), scales.data_ptr<float>() + p.n);
    p.kernel_bias.resize(p.n);
    for (int64_t j = 0; j < p.n; ++j) p.kernel_bias[j] = -128.0f * column_sums.data_ptr<float>()[j];
    if (!p.has_bias) p.bias.assign(p.n, 0.0f);
  }
  // The layout the kernels want does not depend on the number of rows (checked for 1 to 1280), so
  // one packed copy serves every batch size.
  p.weights_md = p.Describe(64, dnnl::memory::desc({p.k, p.n}, WeightType(type), tag::any)).weights_desc();
  p.weights_bytes = p.weights_md.get_size();
  p.weights = std::shared_ptr<uint8_t>(static_cast<uint8_t*>(std::aligned_alloc(64, (p.weights_bytes + 63) / 64 * 64)),
                                       [](uint8_t* ptr) { std::free(ptr); });
  const dt source_type = type == ComputeType::kInt8 ? dt::s8 : dt::f32;
  dnnl::memory source({{p.k, p.n}, source_type, tag::ba}, CpuEngine(), plain.data_ptr());
  dnnl::memory packed(p.weights_md, CpuEngine(), p.weights.get());
  dnnl::stream stream(CpuEngine());
  dnnl::reorder(source, packed).execute(stream, source, packed);
  stream.wait();
}

PackedLinear::~PackedLinear() = default;
PackedLinear::PackedLinear(PackedLinear&&) noexcept = default;
PackedLinear& PackedLinear::operator=(PackedLinear&&) noexcept = default;

int64_t PackedLinear::in_features() const { return impl_->k; }
int64_t PackedLinear::out_features() const { return impl_->n; }
ComputeType PackedLinear::type() const { return impl_->type; }
size_t PackedLinear::bytes() const {
  return impl_->weights_bytes + sizeof(float) * (impl_->bias.size() + impl_->kernel_bias.size() +
                                                 impl_->weight_scales.size());
}

torch::Tensor PackedLinear::Forward(const torch::Tensor& x_in) const {
  Impl& p = *impl_;
  auto x = x_in.to(torch::kFloat32).contiguous();
  if (x.dim() != 2 || x.size(1) != p.k) {
    throw InvalidArgumentError("PackedLinear: input has shape " + c10::str(x.sizes()) + ", expected [M, " +
                               std::to_string(p.k) + "]");
  }
  const int64_t m = x.size(0);
  if (m % p.row_multiple != 0) {
    const int64_t rows = (m + p.row_multiple - 1) / p.row_multiple * p.row_multiple;
    return Forward(torch::cat({x, torch::zeros({rows - m, p.k}, x.options())})).slice(0, 0, m);
  }
  auto out = torch::empty({m, p.n}, torch::kFloat32);
  if (m == 0) return out;
  ThreadBuffers& buffers = Buffers();
  const float* in = x.data_ptr<float>();
  void* source = const_cast<float*>(in);
  const int64_t elements = m * p.k;
  if (p.type == ComputeType::kBFloat16) {
    buffers.bf16.resize(elements);
    for (int64_t i = 0; i < elements; ++i) buffers.bf16[i] = ToBFloat16(in[i]);
    source = buffers.bf16.data();
  } else if (p.type == ComputeType::kInt8) {
    buffers.u8.resize(elements);
    buffers.row_scales.resize(m);
    for (int64_t r = 0; r < m; ++r) {
      const float* row = in + r * p.k;
      float largest = 0.0f;
      for (int64_t j = 0; j < p.k; ++j) largest = std::max(largest, std::fabs(row[j]));
      const float scale = largest > 0.0f ? largest / 127.0f : 1.0f;
      const float inverse = 1.0f / scale;
      buffers.row_scales[r] = scale;
      uint8_t* q = buffers.u8.data() + r * p.k;
      // x / scale is in [-127, 127]; + 128.5 and truncation round it half up into [1, 255].
      for (int64_t j = 0; j < p.k; ++j) q[j] = static_cast<uint8_t>(row[j] * inverse + 128.5f);
    }
    source = buffers.u8.data();
  }

  auto kernel = p.KernelFor(m);
  if (buffers.scratch.size() < kernel->scratch_bytes) buffers.scratch.resize(kernel->scratch_bytes);
  const auto& engine = CpuEngine();
  dnnl::memory src({{m, p.k}, SourceType(p.type), tag::ab}, engine, source);
  dnnl::memory weights(p.weights_md, engine, p.weights.get());
  dnnl::memory dst({{m, p.n}, dt::f32, tag::ab}, engine, out.data_ptr<float>());
  dnnl::memory scratch({{static_cast<int64_t>(kernel->scratch_bytes)}, dt::u8, tag::a}, engine,
                       buffers.scratch.data());
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}};
  const std::vector<float>* kernel_bias = p.type == ComputeType::kInt8 ? &p.kernel_bias : p.has_bias ? &p.bias : nullptr;
  if (kernel_bias != nullptr) {
    args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, p.n}, dt::f32, tag::ab}, engine,
                                             const_cast<float*>(kernel_bias->data())));
  }
  thread_local dnnl::stream stream(engine);
  kernel->matmul.execute(stream, args);
  stream.wait();

  if (p.type == ComputeType::kInt8) {
    // The kernel gave weight scale x (u8 - 128) . W_q: rescale each row by its input scale, add b.
    float* y = out.data_ptr<float>();
    const float* bias = p.bias.data();
    for (int64_t r = 0; r < m; ++r) {
      const float scale = buffers.row_scales[r];
      float* row = y + r * p.n;
      for (int64_t j = 0; j < p.n; ++j) row[j] = row[j] * scale + bias[j];
    }
  }
  return out;
}

PackedLstmLayer::PackedLstmLayer(const torch::Tensor& w_ih, const torch::Tensor& w_hh, const torch::Tensor& b_ih,
                                 const torch::Tensor& b_hh, ComputeType type)
    : gates_(torch::cat({w_ih.detach(), w_hh.detach()}, 1), (b_ih.detach() + b_hh.detach()), type) {}

std::tuple<torch::Tensor, torch::Tensor> PackedLstmLayer::Step(const std::vector<torch::Tensor>& x,
                                                               const torch::Tensor& h, const torch::Tensor& c) const {
  std::vector<torch::Tensor> parts = x;
  parts.push_back(h);
  auto gates = gates_.Forward(torch::cat(parts, 1));
  // lstm_cell's pointwise maths (gate order i, f, g, o).
  auto chunks = gates.unsafe_chunk(4, 1);
  auto input_gate = chunks[0].sigmoid_();
  auto forget_gate = chunks[1].sigmoid_();
  auto cell_gate = chunks[2].tanh_();
  auto output_gate = chunks[3].sigmoid_();
  auto c_next = (forget_gate * c).add_(input_gate * cell_gate);
  auto h_next = output_gate * c_next.tanh();
  return {h_next, c_next};
}

}  // namespace wordbridge
