// A complete attnconf worker in one file, written from docs/worker-protocol.md alone: it does not
// link the suite. It implements torch's scaled_dot_product_attention (4-D inputs, forward only)
// in double precision with a row-by-row online softmax (no L x S score matrix), and the error
// contract of spec/scaled_dot_product_attention.yaml.
//
// Build: g++ -std=c++20 -O2 minimal_worker.cpp -o minimal_worker   (needs nlohmann-json3-dev)
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

using nlohmann::json;

namespace {

struct Tensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

int itemSize(const std::string& dtype) {
  static const std::map<std::string, int> sizes{{"fp64", 8},  {"fp32", 4},     {"fp16", 2},
                                                {"bf16", 2},  {"fp8_e4m3", 1}, {"fp8_e5m2", 1},
                                                {"int64", 8}, {"int32", 4},    {"bool", 1}};
  return sizes.at(dtype);
}

double fromBytes(const std::string& dtype, const char* p) {
  if (dtype == "fp64") return std::bit_cast<double>(*reinterpret_cast<const std::uint64_t*>(p));
  if (dtype == "fp32") return std::bit_cast<float>(*reinterpret_cast<const std::uint32_t*>(p));
  if (dtype == "fp16")
    return static_cast<double>(std::bit_cast<_Float16>(*reinterpret_cast<const std::uint16_t*>(p)));
  if (dtype == "bf16")
    return std::bit_cast<float>(std::uint32_t{*reinterpret_cast<const std::uint16_t*>(p)} << 16);
  if (dtype == "int64") return static_cast<double>(*reinterpret_cast<const std::int64_t*>(p));
  if (dtype == "int32") return *reinterpret_cast<const std::int32_t*>(p);
  // SDPA takes no fp8: such calls break a dtype rule and are rejected before a value is read, so
  // the code itself stands in (a worker that computes in fp8 decodes it, docs/worker-protocol.md).
  if (dtype.starts_with("fp8")) return static_cast<unsigned char>(*p);
  return *p != 0 ? 1.0 : 0.0;
}

void appendBytes(const std::string& dtype, double x, std::string& out) {
  const auto put = [&](auto v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); };
  if (dtype == "fp64") return put(x);
  if (dtype == "fp32") return put(static_cast<float>(x));
  if (dtype == "fp16") return put(std::bit_cast<std::uint16_t>(static_cast<_Float16>(x)));
  // bf16: round the fp32 bits to nearest even, keep the high half.
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(static_cast<float>(x));
  put(static_cast<std::uint16_t>((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16));
}

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

// The API refused the call: becomes a `rejected` reply.
struct Rejected : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void require(bool ok, const std::string& message) {
  if (!ok) throw Rejected(message);
}

// torch.nn.functional.scaled_dot_product_attention on (N, H, L, E) tensors.
Tensor sdpa(const json& params, const std::map<std::string, Tensor>& t) {
  const Tensor &q = t.at("query"), &k = t.at("key"), &v = t.at("value");
  const Tensor* mask = t.contains("attn_mask") ? &t.at("attn_mask") : nullptr;
  const bool causal = params.value("is_causal", false);
  const bool gqa = params.value("enable_gqa", false);
  require(k.dtype == q.dtype && v.dtype == q.dtype,
          "Expected query, key, and value to have the same dtype");
  require(q.shape.size() == 4 && k.shape.size() == 4 && v.shape.size() == 4,
          "expected 4-D shapes (N, H, L, E)");
  const std::int64_t n = q.shape[0], hq = q.shape[1], l = q.shape[2], e = q.shape[3];
  const std::int64_t h = k.shape[1], s = k.shape[2], ev = v.shape[3];
  if (mask) {
    require(mask->dtype == "bool" || mask->dtype == "fp32" || mask->dtype == q.dtype,
            "Expected attn_mask dtype to be bool or float or to match query dtype");
    require(!causal, "attn_mask should not be set when is_causal=True");
  }
  // The mask broadcasts to (N, Hq, L, S) as numpy does: its axes align from the right, and an
  // axis of extent 1 repeats (stride 0).
  std::array<std::int64_t, 4> mask_strides{};
  if (mask) {
    const std::array<std::int64_t, 4> full{n, hq, l, s};
    const auto rank = static_cast<std::int64_t>(mask->shape.size());
    require(rank <= 4, "attn_mask must broadcast to (N, Hq, L, S)");
    std::int64_t stride = 1;
    for (std::int64_t a = rank - 1; a >= 0; --a) {
      const std::int64_t extent = mask->shape[std::size_t(a)], axis = 4 - rank + a;
      require(extent == 1 || extent == full[std::size_t(axis)],
              "attn_mask must broadcast to (N, Hq, L, S)");
      mask_strides[std::size_t(axis)] = extent == 1 ? 0 : stride;
      stride *= extent;
    }
  }
  require(gqa || h == hq, "key and value must have the same number of heads as query");
  require(h > 0 && hq % h == 0,
          "Number of heads in key and value must divide the number of heads in query");
  require(k.shape == std::vector<std::int64_t>{n, h, s, e}, "key shape must be (N, H, S, E)");
  require(v.shape == std::vector<std::int64_t>{n, h, s, ev}, "value shape must be (N, H, S, Ev)");

  const double scale =
      params.contains("scale") ? params["scale"].get<double>() : 1.0 / std::sqrt(double(e));
  Tensor out{q.dtype, {n, hq, l, ev}, std::vector<double>(std::size_t(n * hq * l * ev), 0.0)};
  std::vector<double> acc(static_cast<std::size_t>(ev));
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t head = 0; head < hq; ++head) {
      const std::int64_t kv = head / (hq / h);
      for (std::int64_t i = 0; i < l; ++i) {
        const double* qi = &q.values[std::size_t(((b * hq + head) * l + i) * e)];
        double running_max = -std::numeric_limits<double>::infinity(), sum = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (std::int64_t j = 0; j < (causal ? std::min(i + 1, s) : s); ++j) {  // top-left causal
          const double* kj = &k.values[std::size_t(((b * h + kv) * s + j) * e)];
          double score = 0;
          for (std::int64_t d = 0; d < e; ++d) score += qi[d] * kj[d];
          score *= scale;
          if (mask) {
            const auto at = std::size_t(b * mask_strides[0] + head * mask_strides[1] +
                                        i * mask_strides[2] + j * mask_strides[3]);
            const double m = mask->values[at];
            if (mask->dtype == "bool" && m == 0) continue;  // True takes part
            if (mask->dtype != "bool") score += m;
          }
          if (score == -std::numeric_limits<double>::infinity()) continue;
          const double new_max = std::isnan(score) ? score : std::max(running_max, score);
          const double rescale = std::exp(running_max - new_max), p = std::exp(score - new_max);
          sum = sum * rescale + p;
          const double* vj = &v.values[std::size_t(((b * h + kv) * s + j) * ev)];
          for (std::int64_t d = 0; d < ev; ++d)
            acc[std::size_t(d)] = acc[std::size_t(d)] * rescale + p * vj[d];
          running_max = new_max;
        }
        double* row = &out.values[std::size_t(((b * hq + head) * l + i) * ev)];
        for (std::int64_t d = 0; d < ev; ++d)
          row[d] = sum != 0 ? acc[std::size_t(d)] / sum : 0.0;  // empty row: 0; a NaN stays
      }
    }
  return out;
}

void send(const json& header, const std::string& payload = {}) {
  std::cout << header.dump() << '\n' << payload << std::flush;
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  send(
      {{"type", "hello"},
       {"protocol", 1},
       {"worker", "minimal_worker"},
       {"versions", {{"minimal_worker", "1.0"}}},
       {"apis",
        {{"scaled_dot_product_attention", {{"modes", {"forward"}}, {"declared_fallbacks", ""}}}}}});
  std::string line;
  while (std::getline(std::cin, line)) {
    const json call = json::parse(line);
    std::map<std::string, Tensor> tensors;
    for (const auto& desc : call["tensors"]) {
      Tensor t{desc["dtype"], desc["shape"].get<std::vector<std::int64_t>>(), {}};
      std::string bytes(std::size_t(numel(t.shape) * itemSize(t.dtype)), '\0');
      std::cin.read(bytes.data(), std::streamsize(bytes.size()));
      for (std::size_t at = 0; at < bytes.size(); at += std::size_t(itemSize(t.dtype)))
        t.values.push_back(fromBytes(t.dtype, bytes.data() + at));
      tensors[desc["name"]] = std::move(t);
    }
    json reply{{"id", call["id"]}};
    if (call["api"] != "scaled_dot_product_attention" || call["mode"] != "forward") {
      send({{"id", call["id"]}, {"type", "unsupported"}, {"message", "forward of SDPA only"}});
      continue;
    }
    try {
      const Tensor out = sdpa(call["params"], tensors);
      std::string payload;
      for (const double x : out.values) appendBytes(out.dtype, x, payload);
      send({{"id", call["id"]},
            {"type", "outputs"},
            {"tensors", {{{"name", "out"}, {"dtype", out.dtype}, {"shape", out.shape}}}},
            {"path",
             {{"path", "flash"},
              {"kernel", "minimal_worker.online_softmax_rows"},
              {"detail", "the only path"}}}},
           payload);
    } catch (const Rejected& e) {
      send({{"id", call["id"]},
            {"type", "rejected"},
            {"error", {{"type", "RuntimeError"}, {"message", e.what()}}}});
    }
  }
}
