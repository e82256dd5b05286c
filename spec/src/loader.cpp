#include "attnconf/spec/loader.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <regex>
#include <set>

#include "attnconf/model/files.h"
#include "attnconf/spec/rules.h"
#include "detail/yaml_field.h"

namespace attnconf::spec {

using detail::Field;

SpecError::SpecError(const Location& where, const std::string& field, const std::string& expected)
    : std::runtime_error(
          fmt::format("{}:{}:{}: {}: {}", where.file, where.line, where.column, field, expected)),
      where_(where),
      field_(field),
      expected_(expected) {}

namespace {

// ParamType's names as spec files spell them, in the enum's order.
constexpr std::array<std::string_view, 5> kParamTypeNames = {"bool", "int", "float", "int_pair",
                                                             "string"};
static_assert(kParamTypeNames.size() == static_cast<std::size_t>(ParamType::string) + 1);

std::string contentHash(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

bool isIdentifier(const std::string& s) {
  static const std::regex identifier("[a-z_][a-z0-9_]*");
  return std::regex_match(s, identifier);
}

DType parseDTypeField(const Field& f) {
  const auto dtype = parseDType(f.text());
  if (!dtype)
    f.fail(fmt::format(
        "unknown dtype \"{}\"; expected fp64, fp32, fp16, bf16, int64, int32 or bool", f.text()));
  return *dtype;
}

Alignment parseAlignment(const Field& f) {
  return f.choice<Alignment>(
      {{"top_left", Alignment::top_left}, {"bottom_right", Alignment::bottom_right}});
}

// The sections are parsed in dependency order so that every reference can be checked against
// what it names as soon as it is read.
class SpecParser {
 public:
  SpecParser(const Field& root, ApiSpec& spec) : root_(root), spec_(spec) {}

  void parse() {
    root_.allowOnly({"api", "title", "version", "sources", "dims", "inputs", "params", "outputs",
                     "semantics", "tolerance", "rules", "assumes", "paths", "promises",
                     "backward"});
    const Field api = root_.at("api");
    spec_.api = api.text();
    if (!isIdentifier(spec_.api)) api.fail("expected a snake_case API name");
    spec_.title = root_.at("title").text();
    spec_.version = root_.at("version").text();
    parseSources(root_.at("sources"));
    parseDims(root_.at("dims"));
    parseTensors(root_.at("inputs"), spec_.inputs, /*is_output=*/false);
    checkOffsets();
    parseParams(root_.at("params"));
    parseTensors(root_.at("outputs"), spec_.outputs, /*is_output=*/true);
    parseSemantics(root_.at("semantics"));
    const bool attention = !spec_.semantics.isDecodeStep();
    if (attention) {
      parseTolerance(root_.at("tolerance"));
    } else {
      refuseAttentionSections();
    }
    parseRules(root_.at("rules"), spec_.rules);
    if (const auto assumes = root_.find("assumes")) parseRules(*assumes, spec_.assumptions);
    if (attention) parsePaths(root_.at("paths"));
    if (const auto promises = root_.find("promises")) parsePromises(*promises);
    if (const auto backward = root_.find("backward")) parseBackward(*backward);
    checkSatisfiable();
  }

 private:
  void parseSources(const Field& f) {
    for (const auto& item : f.items()) {
      item.allowOnly({"id", "cite"});
      Source source{item.at("id").text(), item.at("cite").text()};
      if (findSource(source.id))
        item.at("id").fail(fmt::format("duplicate source id \"{}\"", source.id));
      spec_.sources.push_back(std::move(source));
    }
    if (spec_.sources.empty()) f.fail("expected at least one source document");
  }

  const Source* findSource(const std::string& id) const {
    const auto it = std::find_if(spec_.sources.begin(), spec_.sources.end(),
                                 [&](const Source& s) { return s.id == id; });
    return it == spec_.sources.end() ? nullptr : &*it;
  }

  void requireSource(const Field& f) const {
    if (!findSource(f.text())) {
      f.fail(fmt::format("unknown source \"{}\"; declare it under `sources`", f.text()));
    }
  }

  void parseDims(const Field& f) {
    for (const auto& [name, body] : f.members()) {
      body.allowOnly({"kind", "sum_of", "product_of", "packs", "offsets", "ends", "keys_in"});
      if (!isIdentifier(name)) body.fail("expected a snake_case dim name");
      Dim dim;
      dim.name = name;
      dim.kind = body.at("kind").choice<DimKind>({{"batch", DimKind::batch},
                                                  {"seqlen", DimKind::seqlen},
                                                  {"heads", DimKind::heads},
                                                  {"head_dim", DimKind::head_dim}});
      if (const auto parts = body.find("sum_of")) {
        for (const auto& part : parts->items()) {
          dim.sum_of.push_back(part.text());
          if (isConstantPart(part.text())) continue;
          // A product may be a part (a paged cache's pages: entries times pages per entry).
          const Dim* product = spec_.dim(part.text());
          if (!product || product->product_of.empty())
            requirePlainDim(part, ", a product of such dims, or an integer");
        }
        if (dim.sum_of.size() < 2) parts->fail("expected at least two parts");
      }
      if (const auto factors = body.find("product_of")) {
        if (!dim.sum_of.empty()) factors->fail("a dim is either a sum (sum_of) or a product");
        for (const auto& factor : factors->items()) {
          requirePlainDim(factor);
          dim.product_of.push_back(factor.text());
        }
        if (dim.product_of.size() < 2) factors->fail("expected at least two dims");
      }
      if (const auto packs = body.find("packs")) {
        parsePacked(body, *packs, dim);
      } else if (const auto keys = body.find("keys_in")) {
        keys->fail("`keys_in` applies only to a packed dim (one with `packs`)");
      }
      spec_.dims.push_back(std::move(dim));
    }
    if (spec_.dims.empty()) f.fail("expected at least one dim");
  }

  // A dim declared above that is drawn on its own (not derived).
  // `alternative` names what else the field may hold, for the message.
  void requirePlainDim(const Field& f, std::string_view alternative = "") const {
    const Dim* earlier = spec_.dim(f.text());
    if (!earlier || earlier->derived())
      f.fail(
          fmt::format("expected a plain dim declared above{}, got \"{}\"", alternative, f.text()));
  }

  // `packs: [BATCH, SEQLEN]` with `offsets: INPUT` (the starts and the total) or `ends: INPUT`
  // (the ends alone); the input is checked once inputs are read.
  void parsePacked(const Field& body, const Field& packs, Dim& dim) {
    for (const auto& part : packs.items()) {
      requirePlainDim(part);
      dim.packs.push_back(part.text());
    }
    if (dim.packs.size() != 2 || spec_.dim(dim.packs[0])->kind != DimKind::batch ||
        spec_.dim(dim.packs[1])->kind != DimKind::seqlen)
      packs.fail("expected [a batch dim, a seqlen dim]: the sequences and their longest length");
    if (dim.kind != DimKind::seqlen) body.at("kind").fail("a packed dim is of kind seqlen");
    if (!dim.sum_of.empty() || !dim.product_of.empty())
      packs.fail("a packed dim is neither a sum nor a product");
    const auto ends = body.find("ends");
    if (ends && body.find("offsets"))
      ends->fail("a packed dim takes `offsets` or `ends`, not both");
    const Field where = ends ? *ends : body.at("offsets");
    dim.offsets = where.text();
    dim.offsets_are_ends = ends.has_value();
    pending_offsets_.emplace_back(dim.name, where);
    if (const auto keys = body.find("keys_in")) {
      dim.keys_in = keys->text();
      const Dim* other = spec_.dim(dim.keys_in);
      if (!other || other->packs.empty() || other->packs[0] != dim.packs[0])
        keys->fail(fmt::format("expected a packed dim declared above over the batch \"{}\"",
                               dim.packs[0]));
    }
  }

  // The offsets of a packed dim: a required integer input of one axis, batch + 1 long (the
  // ends alone: batch long).
  void checkOffsets() const {
    for (const auto& [dim_name, f] : pending_offsets_) {
      requireInput(f);
      const TensorDecl& decl = *spec_.input(f.text());
      const Dim& packed = *spec_.dim(dim_name);
      const Dim* bounds = decl.shapes.size() == 1 && decl.shapes[0].size() == 1
                              ? spec_.dim(decl.shapes[0][0])
                              : nullptr;
      const bool extent_fits =
          bounds && (packed.offsets_are_ends
                         ? bounds->name == packed.packs[0]
                         : bounds->sum_of == std::vector<std::string>{packed.packs[0], "1"});
      if (!extent_fits || decl.optional || !decl.dtype ||
          (*decl.dtype != DType::int32 && *decl.dtype != DType::int64) ||
          !decl.lengths_of.empty() || decl.uniform_hi > decl.uniform_lo)
        f.fail(fmt::format(
            "expected a required input of integer dtype, without `values`, of shape {}",
            packed.offsets_are_ends
                ? fmt::format("[{}]", packed.packs[0])
                : fmt::format("[B] where B is a dim with `sum_of: [{}, 1]`", packed.packs[0])));
    }
  }

  void requireDim(const Field& f, const std::string& name) const {
    if (!spec_.dim(name)) f.fail(fmt::format("unknown dim \"{}\"; declare it under `dims`", name));
  }

  std::vector<std::string> parseShape(const Field& f) const {
    std::vector<std::string> shape;
    for (const auto& item : f.items()) {
      shape.push_back(item.text());
      requireDim(item, shape.back());
    }
    return shape;
  }

  // A dtype, or (outputs) `same_as INPUT`, or `{same_as: INPUT, except: {fp8_e4m3: bf16}}` where
  // some input dtypes give another output dtype.
  void parseTensorDType(const Field& f, bool is_output, TensorDecl& decl) const {
    const auto follow = [&](const Field& at, std::string input) {
      if (!spec_.input(input)) at.fail(fmt::format("unknown input \"{}\"", input));
      decl.dtype_same_as = std::move(input);
    };
    if (is_output && f.isMap()) {
      f.allowOnly({"same_as", "except"});
      follow(f.at("same_as"), f.at("same_as").text());
      for (const auto& [name, to] : f.at("except").members())
        decl.dtype_except[dtypeKey(to, name)] = parseDTypeField(to);
    } else if (const std::string text = f.text(); is_output && text.starts_with("same_as ")) {
      follow(f, text.substr(8));
    } else {
      decl.dtype = parseDTypeField(f);
    }
  }

  void parseTensors(const Field& f, std::vector<TensorDecl>& out, bool is_output) {
    for (const auto& [name, body] : f.members()) {
      if (is_output)
        body.allowOnly({"shape", "dtype", "when", "concat", "in_place", "copies"});
      else
        body.allowOnly({"shape", "dtype", "dtypes", "optional", "values", "broadcast"});
      TensorDecl decl;
      decl.name = name;
      decl.where = body.where();
      const Field shape = body.at("shape");
      const auto items = shape.items();
      if (!items.empty() && items.front().isSequence()) {
        for (const auto& alt : items) decl.shapes.push_back(parseShape(alt));
      } else {
        decl.shapes.push_back(parseShape(shape));
      }
      if (const auto dtype = body.find("dtype")) {
        parseTensorDType(*dtype, is_output, decl);
      } else if (is_output) {
        body.fail("outputs need `dtype`: a dtype or `same_as INPUT`");
      }
      if (const auto covered = body.find("dtypes")) {
        for (const auto& d : covered->items()) decl.covered_dtypes.push_back(parseDTypeField(d));
        if (decl.covered_dtypes.empty()) covered->fail("expected at least one dtype");
      }
      if (const auto opt = body.find("optional")) decl.optional = opt->boolean();
      if (const auto copies = body.find("copies")) {
        decl.copies = copies->integer();
        if (decl.copies < 1) copies->fail("expected a positive number of copies");
      }
      if (const auto broadcast = body.find("broadcast")) {
        if (broadcast->isSequence()) {
          decl.broadcast = true;
          for (const Field& dim : broadcast->items()) {
            requireDim(dim, dim.text());
            decl.broadcast_dims.push_back(dim.text());
          }
        } else {
          decl.broadcast = broadcast->boolean();
        }
      }
      const auto values = body.find("values");
      if (values && values->find("lengths_of")) {
        values->allowOnly({"lengths_of", "room_for", "at_most", "at_least_excess_over"});
        requireDim(values->at("lengths_of"), values->at("lengths_of").text());
        decl.lengths_of = values->at("lengths_of").text();
        if (const auto room = values->find("room_for")) {
          requireDim(*room, room->text());
          decl.room_for = room->text();
        }
        if (const auto excess = values->find("at_least_excess_over")) {
          requireDim(*excess, excess->text());
          decl.lengths_at_least_excess_over = excess->text();
        }
        if (const auto bound = values->find("at_most")) {
          if (!spec_.input(bound->text()))
            bound->fail("expected an input declared before this one, whose values bound these");
          decl.lengths_at_most = bound->text();
        }
      } else if (values && values->find("extent_of")) {
        values->allowOnly({"extent_of", "plus"});
        requireDim(values->at("extent_of"), values->at("extent_of").text());
        decl.extent_of = values->at("extent_of").text();
        if (const auto plus = values->find("plus")) decl.extent_plus = plus->integer();
      } else if (values && values->find("indices_of")) {
        values->allowOnly({"indices_of"});
        requireDim(values->at("indices_of"), values->at("indices_of").text());
        decl.indices_of = values->at("indices_of").text();
      } else if (values) {
        values->allowOnly({"uniform", "lengths_of", "indices_of", "extent_of"});
        const auto range = values->at("uniform").items();
        if (range.size() != 2 || range[0].number() >= range[1].number()) {
          values->at("uniform").fail("expected [lo, hi] with lo < hi");
        }
        decl.uniform_lo = range[0].number();
        decl.uniform_hi = range[1].number();
      }
      if (const auto when = body.find("when")) {
        decl.when = when->text();
        const ParamDecl* p = spec_.param(decl.when);
        if (!spec_.input(decl.when) && (!p || p->type != ParamType::boolean))
          when->fail(fmt::format("expected a bool param or an input, got \"{}\"", decl.when));
      }
      if (const auto concat = body.find("concat")) parseConcat(*concat, decl);
      if (const auto in_place = body.find("in_place"); in_place && in_place->boolean()) {
        if (!spec_.input(name))
          in_place->fail(
              fmt::format("expected an output named as the input it updates, got \"{}\"", name));
        decl.in_place = true;
      }
      out.push_back(std::move(decl));
    }
  }

  // An output that concatenates inputs along its one derived axis.
  void parseConcat(const Field& f, TensorDecl& decl) const {
    for (const auto& part : f.items()) requireInput(part);
    decl.concat = f.texts();
    if (decl.concat.size() < 2) f.fail("expected at least two inputs");
    if (decl.shapes.size() != 1 || std::ranges::count_if(decl.shapes[0], [&](const std::string& d) {
                                     return !spec_.dim(d)->sum_of.empty();
                                   }) != 1)
      f.fail("expected an output with one shape and one derived (sum_of) axis to concatenate on");
  }

  static ParamValue parseValue(const Field& f, ParamType type) {
    switch (type) {
      case ParamType::boolean:
        return f.boolean();
      case ParamType::integer:
        return f.integer();
      case ParamType::floating:
        return f.number();
      case ParamType::int_pair: {
        auto pair = f.integers();
        if (pair.size() != 2) f.fail("expected a pair [left, right]");
        return pair;
      }
      case ParamType::string:
        return f.text();
    }
    f.fail("unsupported type");
  }

  void parseParams(const Field& f) {
    for (const auto& [name, body] : f.members()) {
      body.allowOnly({"type", "default", "generate", "unchecked", "extent_of", "fixed"});
      ParamDecl decl;
      decl.name = name;
      decl.where = body.where();
      decl.type = body.at("type").choice<ParamType>({{"bool", ParamType::boolean},
                                                     {"int", ParamType::integer},
                                                     {"float", ParamType::floating},
                                                     {"int_pair", ParamType::int_pair},
                                                     {"string", ParamType::string}});
      if (const auto extent = body.find("extent_of")) {  // always passed: the dim's extent
        requireDim(*extent, extent->text());
        if (decl.type != ParamType::integer) body.at("type").fail("`extent_of` needs type int");
        if (body.find("default") || body.find("generate") || body.find("unchecked"))
          body.fail("a param with `extent_of` takes no default, generate or unchecked");
        decl.extent_of = extent->text();
        spec_.params.push_back(std::move(decl));
        continue;
      }
      if (const auto fixed = body.find("fixed")) {  // always passed: this value
        if (body.find("default") || body.find("generate") || body.find("unchecked"))
          body.fail("a param with `fixed` takes no default, generate or unchecked");
        decl.fixed = parseValue(*fixed, decl.type);
        spec_.params.push_back(std::move(decl));
        continue;
      }
      if (decl.type == ParamType::string)
        body.at("type").fail("a string param needs `fixed: VALUE` (a variant sets it)");
      const Field def = body.at("default");
      if (!def.isNull()) decl.default_value = parseValue(def, decl.type);
      if (const auto gen = body.find("generate"))
        parseGenerate(*gen, decl);
      else if (decl.type != ParamType::boolean)
        body.fail("non-bool params need `generate: [lo, hi]` (an int param also `{one_of: [..]}`)");
      if (const auto unchecked = body.find("unchecked")) decl.unchecked = unchecked->text();
      spec_.params.push_back(std::move(decl));
    }
  }

  void parseGenerate(const Field& gen, ParamDecl& decl) const {
    if (gen.isMap() && decl.type == ParamType::integer) {
      gen.allowOnly({"one_of"});
      decl.generate_choices = gen.at("one_of").integers();
      if (decl.generate_choices.empty()) gen.at("one_of").fail("expected at least one value");
      const auto [lo, hi] = std::ranges::minmax(decl.generate_choices);
      decl.generate_lo = static_cast<double>(lo);
      decl.generate_hi = static_cast<double>(hi);
      return;
    }
    const auto range = gen.items();
    if (range.size() != 2) gen.fail("expected [lo, hi]");
    decl.generate_lo = range[0].number();
    if (decl.type == ParamType::int_pair && spec_.dim(range[1].text())) {
      decl.generate_hi_dim = range[1].text();
      return;
    }
    decl.generate_hi = range[1].number();
    if (decl.generate_lo > decl.generate_hi)
      gen.fail(
          fmt::format("contradictory range: lo {} > hi {}", decl.generate_lo, decl.generate_hi));
  }

  void requireParam(const Field& f, ParamType type) const {
    const ParamDecl* p = spec_.param(f.text());
    if (!p) f.fail(fmt::format("unknown param \"{}\"; declare it under `params`", f.text()));
    if (p->type != type) {
      f.fail(fmt::format("param \"{}\" is {}; this clause needs a param of type {}", f.text(),
                         kParamTypeNames[static_cast<std::size_t>(p->type)],
                         kParamTypeNames[static_cast<std::size_t>(type)]));
    }
  }

  // A name that can be given to a call: a param or an input.
  void requireGiven(const Field& f) const {
    if (!spec_.param(f.text()) && !spec_.input(f.text()))
      f.fail(fmt::format("unknown param or input \"{}\"", f.text()));
  }

  void requireInput(const Field& f) const {
    if (!spec_.input(f.text())) f.fail(fmt::format("unknown input tensor \"{}\"", f.text()));
  }

  // A decode step's update is exact and no attention kernel runs: nothing to bound or dispatch.
  void refuseAttentionSections() const {
    for (const char* key : {"tolerance", "paths", "backward"}) {
      if (const auto section = root_.find(key))
        section->fail(fmt::format(
            "no `{}`: a spec with `semantics.decode_step` is an exact state update, not attention",
            key));
    }
  }

  // `{source, decode_step: {input_tokens, input_positions, seq_lens, slot_mapping, sampled,
  // block_table, block_size}}`: the state inputs, each with an in_place output of its name.
  void parseDecodeStep(const Field& f) {
    f.allowOnly({"source", "decode_step"});
    const Field roles = f.at("decode_step");
    roles.allowOnly({"input_tokens", "input_positions", "seq_lens", "slot_mapping", "sampled",
                     "block_table", "block_size"});
    DecodeStepRoles& d = spec_.semantics.decode_step.emplace();
    for (auto [key, target] :
         {std::pair{"input_tokens", &d.input_tokens},
          std::pair{"input_positions", &d.input_positions}, std::pair{"seq_lens", &d.seq_lens},
          std::pair{"slot_mapping", &d.slot_mapping}}) {
      const Field name = roles.at(key);
      requireInput(name);
      const TensorDecl* updated = spec_.output(name.text());
      if (!updated || !updated->in_place)
        name.fail(
            fmt::format("expected an input with an output \"{}\" of `in_place: true`: the "
                        "step updates it",
                        name.text()));
      *target = name.text();
    }
    for (auto [key, target] :
         {std::pair{"sampled", &d.sampled}, std::pair{"block_table", &d.block_table}}) {
      requireInput(roles.at(key));
      *target = roles.at(key).text();
    }
    requireParam(roles.at("block_size"), ParamType::integer);
    d.block_size = roles.at("block_size").text();
  }

  void parseSemantics(const Field& f) {
    if (f.find("decode_step")) {
      requireSource(f.at("source"));
      spec_.semantics.where = f.where();
      parseDecodeStep(f);
      return;
    }
    f.allowOnly({"source",      "canonical", "query",         "key",     "value",
                 "scale",       "softcap",   "splits",        "causal",  "window",
                 "alibi",       "mask",      "bias",          "lengths", "fully_masked_rows",
                 "out",         "lse",       "softcap_order", "past",    "kv_cache",
                 "sparse_mode", "row_max",   "row_sum",       "sink",    "descale"});
    Semantics& s = spec_.semantics;
    s.where = f.where();
    requireSource(f.at("source"));
    const Field canonical = f.at("canonical");
    canonical.allowOnly(
        {"batch", "seqlen_q", "seqlen_k", "heads_q", "heads_kv", "head_dim", "head_dim_v"});
    for (const char* key :
         {"batch", "seqlen_q", "seqlen_k", "heads_q", "heads_kv", "head_dim", "head_dim_v"}) {
      const Field dim = canonical.at(key);
      requireDim(dim, dim.text());
      s.canonical[key] = dim.text();
    }
    for (auto [key, target] :
         {std::pair{"query", &s.query}, std::pair{"key", &s.key}, std::pair{"value", &s.value}}) {
      const Field t = f.at(key);
      requireInput(t);
      *target = t.text();
    }
    if (const auto scale = f.find("scale")) {  // without one, the scale is 1/sqrt(head_dim)
      requireParam(*scale, ParamType::floating);
      s.scale_param = scale->text();
    }
    if (const auto splits = f.find("splits")) {
      requireParam(*splits, ParamType::integer);
      s.splits_param = splits->text();
    }
    if (const auto softcap = f.find("softcap")) {
      requireParam(*softcap, ParamType::floating);
      s.softcap_param = softcap->text();
    }
    if (const auto order = f.find("softcap_order")) {
      s.softcap_after_mask = order->choice<bool>({{"before_mask", false}, {"after_mask", true}});
    }
    if (const auto causal = f.find("causal")) {
      causal->allowOnly({"param", "alignment", "shift_by_past"});
      // Without a param every call is causal (ORT's GroupQueryAttention).
      if (const auto param = causal->find("param")) {
        requireParam(*param, ParamType::boolean);
        s.causal_param = param->text();
      } else {
        s.causal_always = true;
      }
      s.causal_alignment = parseAlignment(causal->at("alignment"));
      if (const auto shift = causal->find("shift_by_past"))
        s.causal_shift_by_past = shift->boolean();
    }
    if (const auto past = f.find("past")) {
      past->allowOnly({"key", "value"});
      for (auto [key, target] :
           {std::pair{"key", &s.past_key}, std::pair{"value", &s.past_value}}) {
        requireInput(past->at(key));
        *target = past->at(key).text();
      }
    }
    if (const auto cache = f.find("kv_cache")) parseKvCache(*cache);
    if (const auto window = f.find("window")) {
      window->allowOnly({"param", "alignment"});
      requireParam(window->at("param"), ParamType::int_pair);
      s.window_param = window->at("param").text();
      s.window_alignment = parseAlignment(window->at("alignment"));
    }
    if (const auto alibi = f.find("alibi")) {
      alibi->allowOnly({"tensor", "alignment"});
      requireInput(alibi->at("tensor"));
      s.alibi_tensor = alibi->at("tensor").text();
      s.alibi_alignment = parseAlignment(alibi->at("alignment"));
    }
    if (const auto sink = f.find("sink")) {
      sink->allowOnly({"tensor", "zero_param"});
      requireInput(sink->at("tensor"));
      s.sink_tensor = sink->at("tensor").text();
      if (const auto zero = sink->find("zero_param")) {
        requireParam(*zero, ParamType::boolean);
        s.zero_sink_param = zero->text();
      }
    }
    if (const auto descale = f.find("descale")) parseDescale(*descale);
    if (const auto lengths = f.find("lengths")) parseLengths(*lengths);
    if (const auto bias = f.find("bias")) {
      bias->allowOnly({"tensor", "before_scale"});
      requireInput(bias->at("tensor"));
      s.bias_tensor = bias->at("tensor").text();
      if (const auto before = bias->find("before_scale")) s.bias_before_scale = before->boolean();
    }
    if (const auto mask = f.find("mask")) {
      mask->allowOnly({"tensor", "bool_true_means"});
      requireInput(mask->at("tensor"));
      s.mask_tensor = mask->at("tensor").text();
      // A float mask (ORT's attention_bias) has no bool meaning to state.
      if (const auto meaning = mask->find("bool_true_means")) {
        s.mask_true_keeps = meaning->choice<bool>({{"keep", true}, {"mask_out", false}});
        s.mask_may_be_bool = true;
      }
    }
    if (const auto sparse = f.find("sparse_mode")) parseSparseModes(*sparse);
    parseFullyMaskedRows(f.at("fully_masked_rows"));
    for (auto [key, target] :
         {std::pair{"out", &s.out}, std::pair{"lse", &s.lse}, std::pair{"row_max", &s.row_max},
          std::pair{"row_sum", &s.row_sum}}) {
      const auto t = f.find(key);
      if (!t && target != &s.out) continue;  // not every API returns the LSE or the statistics
      const Field name = t ? *t : f.at(key);
      if (!spec_.output(name.text())) name.fail(fmt::format("unknown output \"{}\"", name.text()));
      *target = name.text();
    }
  }

  // `{param, pre, next, compressed_mask: [ROWS, COLS],
  //   modes: [{value, mask: as_given|spelled_out|compressed, causal: A, band: A, prefix: T,
  //            compressed_mask: [ROWS, COLS]}]}`.
  void parseSparseModes(const Field& f) {
    Semantics& s = spec_.semantics;
    f.allowOnly({"param", "pre", "next", "compressed_mask", "modes"});
    if (s.mask_tensor.empty()) f.fail("`sparse_mode` needs `mask` (the modes combine with it)");
    for (auto [key, target] :
         {std::pair{"param", &s.sparse_mode_param}, std::pair{"pre", &s.band_pre_param},
          std::pair{"next", &s.band_next_param}}) {
      requireParam(f.at(key), ParamType::integer);
      *target = f.at(key).text();
    }
    for (const auto& item : f.at("modes").items()) {
      item.allowOnly({"value", "mask", "causal", "band", "band_sequence", "queries_within_keys",
                      "prefix", "compressed_mask"});
      SparseMode mode;
      mode.value = item.at("value").integer();
      if (std::ranges::any_of(s.sparse_modes, [&](const auto& m) { return m.value == mode.value; }))
        item.at("value").fail("expected each mode once");
      mode.mask = item.at("mask").choice<ModeMask>({{"as_given", ModeMask::as_given},
                                                    {"spelled_out", ModeMask::spelled_out},
                                                    {"compressed", ModeMask::compressed}});
      if (const auto causal = item.find("causal")) mode.causal = parseAlignment(*causal);
      if (const auto prefix = item.find("prefix")) {
        if (!mode.causal) prefix->fail("`prefix` needs `causal` (the mask the prefix widens)");
        requireInput(*prefix);
        mode.prefix = prefix->text();
      }
      if (const auto shape = item.find("compressed_mask")) {
        if (mode.takesMaskAsGiven()) shape->fail("`compressed_mask` needs `mask: compressed`");
        mode.compressed_mask_shape = compressedShape(*shape);
      }
      if (const auto band = item.find("band")) mode.band = parseAlignment(*band);
      if (const auto sequence = item.find("band_sequence")) {
        if (!mode.causal || !mode.band)
          sequence->fail(
              "`band_sequence` needs `causal` and `band` (the other sequences' mask and its)");
        mode.band_sequence = sequence->choice<BandSequence>(
            {{"first_with_queries", BandSequence::first_with_queries},
             {"last_with_queries", BandSequence::last_with_queries}});
      }
      if (const auto within = item.find("queries_within_keys"))
        mode.queries_within_keys = within->boolean();
      s.sparse_modes.push_back(mode);
    }
    if (s.sparse_modes.empty()) f.at("modes").fail("expected at least one mode");
    const bool compressed = std::ranges::any_of(s.sparse_modes, [](const SparseMode& m) {
      return !m.takesMaskAsGiven() && m.compressed_mask_shape.empty();
    });
    // What a compressed mode's mask must be, unless the mode says.
    if (compressed) s.compressed_mask_shape = compressedShape(f.at("compressed_mask"));
  }

  static Shape compressedShape(const Field& f) {
    Shape shape = f.integers();
    if (shape.size() != 2 || std::ranges::any_of(shape, [](std::int64_t e) { return e < 1; }))
      f.fail("expected two positive extents, [rows, columns]");
    return shape;
  }

  // `{seqlens: T, batch_index: U, append: {key: K, value: V}}`: the semantics' key and value
  // are caches whose rows the batch entries read, T saying how many keys of each are in use.
  void parseKvCache(const Field& f) {
    Semantics& s = spec_.semantics;
    f.allowOnly({"seqlens", "batch_index", "leftpad", "block_table", "append", "rotary"});
    requireInput(f.at("seqlens"));
    s.cache_seqlens = f.at("seqlens").text();
    for (auto [key, target] :
         {std::pair{"batch_index", &s.cache_batch_index}, std::pair{"leftpad", &s.cache_leftpad}}) {
      if (const auto name = f.find(key)) {
        requireInput(*name);
        *target = name->text();
      }
    }
    if (const auto table = f.find("block_table")) parseBlockTable(*table);
    if (const auto append = f.find("append")) {
      append->allowOnly({"key", "value"});
      for (auto [key, target] :
           {std::pair{"key", &s.append_key}, std::pair{"value", &s.append_value}}) {
        requireInput(append->at(key));
        *target = append->at(key).text();
      }
    }
    if (const auto rotary = f.find("rotary")) parseRotary(*rotary);
  }

  // `{cos: C, sin: S, interleaved: P}`: the tables (positions, rotary_dim / 2) that rotate the
  // new keys and the queries, and the bool param that pairs channels (2i, 2i+1).
  void parseRotary(const Field& f) {
    Semantics& s = spec_.semantics;
    f.allowOnly({"cos", "sin", "interleaved"});
    if (s.append_key.empty()) f.fail("rotary embedding rotates the new keys: expected `append`");
    for (auto [key, target] : {std::pair{"cos", &s.rotary_cos}, std::pair{"sin", &s.rotary_sin}}) {
      const Field table = f.at(key);
      requireInput(table);
      const auto& shapes = spec_.input(table.text())->shapes;
      if (shapes.size() != 1 || shapes[0].size() != 2)
        table.fail("expected an input of one shape: [POSITIONS, ROTARY_DIM_HALF]");
      *target = table.text();
    }
    requireParam(f.at("interleaved"), ParamType::boolean);
    s.rotary_interleaved_param = f.at("interleaved").text();
  }

  // A paged cache's table: (batch, pages per entry), the cache (pages, page positions, ...),
  // so that the canonical keys are as many as the table's pages hold.
  void parseBlockTable(const Field& f) {
    Semantics& s = spec_.semantics;
    requireInput(f);
    if (!s.cache_batch_index.empty())
      f.fail("a paged cache has no batch_index: the block table says where each entry's keys are");
    const TensorDecl& table = *spec_.input(f.text());
    const Dim* keys = spec_.dim(s.canonical.at("seqlen_k"));
    const bool fits = table.shapes.size() == 1 && table.shapes[0].size() == 2 &&
                      table.shapes[0][0] == s.canonical.at("batch") && !table.optional &&
                      keys->product_of.size() == 2 && keys->product_of[0] == table.shapes[0][1];
    if (!fits)
      f.fail(
          fmt::format("expected a required input of shape [{}, PAGES] with the keys ({}) a dim of "
                      "`product_of: [PAGES, PAGE_SIZE]`",
                      s.canonical.at("batch"), keys->name));
    s.cache_block_table = f.text();
  }

  // `{tensor: T}` bounds queries and keys by one length; `{query: T, key: U}` each by its own.
  void parseLengths(const Field& f) {
    Semantics& s = spec_.semantics;
    f.allowOnly({"tensor", "query", "key"});
    if (const auto both = f.find("tensor")) {
      if (f.find("query") || f.find("key"))
        f.fail("expected either `tensor` (one length for queries and keys) or `query`/`key`");
      requireInput(*both);
      s.query_lengths_tensor = s.key_lengths_tensor = both->text();
      return;
    }
    if (!f.find("query") && !f.find("key")) f.fail("expected `tensor`, `query` or `key`");
    for (auto [key, target] :
         {std::pair{"query", &s.query_lengths_tensor}, std::pair{"key", &s.key_lengths_tensor}}) {
      if (const auto t = f.find(key)) {
        requireInput(*t);
        *target = t->text();
      }
    }
  }

  // A number (NaN allowed), or nothing for the one word that may stand instead.
  static std::optional<double> numberOr(const Field& f, std::string_view word) {
    if (f.text() == word) return std::nullopt;
    try {
      return f.number(/*nan_allowed=*/true);
    } catch (const SpecError&) {
      f.fail(fmt::format("expected a number, nan or {}, got \"{}\"", word, f.text()));
    }
    return std::nullopt;
  }

  void parseFullyMaskedRows(const Field& f) {
    FullyMaskedRows& rows = spec_.semantics.fully_masked_rows;
    f.allowOnly({"out", "lse"});
    const auto out = numberOr(f.at("out"), "mean_of_values");
    rows.out_mean_of_values = !out;
    rows.out = out.value_or(0.0);
    if (const auto lse = f.find("lse")) rows.lse = numberOr(*lse, "unspecified");
  }

  // `nested`: the rule shares its map with other keys, which the caller allows.
  static ToleranceRule parseToleranceRule(const Field& f, bool nested = false) {
    if (!nested) f.allowOnly({"baseline_factor", "ulp_factor"});
    ToleranceRule rule{f.at("baseline_factor").number(), f.at("ulp_factor").number()};
    if (rule.baseline_factor < 0 || rule.ulp_factor < 0) f.fail("expected non-negative factors");
    if (rule.baseline_factor == 0 && rule.ulp_factor == 0)
      f.fail("a bound of 0 accepts nothing; expected a positive factor");
    return rule;
  }

  static DType dtypeKey(const Field& body, const std::string& name) {
    const auto dtype = parseDType(name);
    if (!dtype) body.fail(fmt::format("unknown dtype \"{}\"", name));
    return *dtype;
  }

  // `{dtype: bf16, probabilities: fp8_e4m3}`: where the baseline's standard attention rounds.
  static Precision parseBaseline(const Field& f) {
    f.allowOnly({"dtype", "probabilities"});
    const DType dtype = parseDTypeField(f.at("dtype"));
    const auto probabilities = f.find("probabilities");
    return {dtype, probabilities ? parseDTypeField(*probabilities) : dtype};
  }

  // `descale: {query, key, value, dtypes}`: (batch, heads_kv) factors read in those dtypes.
  void parseDescale(const Field& f) {
    f.allowOnly({"query", "key", "value", "dtypes"});
    Semantics& s = spec_.semantics;
    const std::vector<std::string> axes{s.canonical.at("batch"), s.canonical.at("heads_kv")};
    for (auto [key, target] : {std::pair{"query", &s.q_descale}, std::pair{"key", &s.k_descale},
                               std::pair{"value", &s.v_descale}}) {
      const auto name = f.find(key);
      if (!name) continue;
      requireInput(*name);
      if (spec_.input(name->text())->shapes != std::vector<std::vector<std::string>>{axes})
        name->fail(fmt::format("expected an input of shape [{}]", fmt::join(axes, ", ")));
      *target = name->text();
    }
    for (const auto& d : f.at("dtypes").items()) s.descale_dtypes.push_back(parseDTypeField(d));
  }

  void parseTolerance(const Field& f) {
    f.allowOnly({"why", "out", "lse", "per_dtype"});
    Tolerance& t = spec_.tolerance;
    t.where = f.where();
    t.why = f.at("why").text();
    t.per_output["out"] = parseToleranceRule(f.at("out"));
    const Semantics& s = spec_.semantics;
    if (const auto lse = f.find("lse");
        lse || !s.lse.empty() || !s.row_max.empty() || !s.row_sum.empty())
      t.per_output["lse"] = parseToleranceRule(f.at("lse"));
    if (const auto per_dtype = f.find("per_dtype")) {
      for (const auto& [name, body] : per_dtype->members()) {
        const DType dtype = dtypeKey(body, name);
        body.allowOnly({"out", "lse", "baseline"});
        for (const auto& [role, rule] : body.members()) {
          if (role == "baseline")
            t.baselines[dtype] = parseBaseline(rule);
          else
            t.per_dtype[dtype][role] = parseToleranceRule(rule);
        }
      }
    }
  }

  // `rules` (the error contract: each with the `error` a rejection must match) or `assumes`
  // (what the caller must keep and the API does not check: no `error`).
  void parseRules(const Field& f, std::vector<Rule>& into) {
    static const std::regex camel("[A-Z][A-Za-z0-9]*");
    const bool contract = &into == &spec_.rules;
    for (const auto& item : f.items()) {
      if (contract)
        item.allowOnly({"id", "source", "check", "error", "note", "unless", "if"});
      else
        item.allowOnly({"id", "source", "check", "note", "unless", "if"});
      Rule rule;
      const Field id = item.at("id");
      rule.id = id.text();
      if (!std::regex_match(rule.id, camel))
        id.fail(fmt::format("expected a CamelCase rule id, got \"{}\"", rule.id));
      if (spec_.rule(rule.id) || spec_.assumption(rule.id))
        id.fail(fmt::format("duplicate rule id \"{}\"", rule.id));
      requireSource(item.at("source"));
      rule.source = item.at("source").text();
      if (contract) {
        const Field error = item.at("error");
        rule.error = error.text();
        try {
          std::regex(rule.error, std::regex::ECMAScript | std::regex::icase);
        } catch (const std::regex_error& e) {
          error.fail(fmt::format("expected a regular expression: {}", e.what()));
        }
      }
      if (const auto note = item.find("note")) rule.note = note->text();
      rule.check = parseCheck(item.at("check"));
      rule.check_where = item.at("check").where();
      if (const auto unless = item.find("unless")) {
        requireGiven(*unless);
        rule.unless = unless->text();
      }
      // A name, a dim check, or a list of them that must all hold.
      if (const auto if_given = item.find("if")) {
        for (const Field& term : if_given->isList() ? if_given->items() : std::vector{*if_given}) {
          if (term.isMap()) {
            rule.if_dims.push_back(parseDimCheck(term, true));
            continue;
          }
          requireGiven(term);
          rule.if_given.push_back(term.text());
        }
      }
      rule.where = item.where();
      into.push_back(std::move(rule));
    }
  }

  void parseBackward(const Field& f) {
    f.allowOnly({"source", "grad_output", "grads", "tolerance"});
    Backward& b = spec_.backward;
    b.where = f.where();
    requireSource(f.at("source"));
    b.source = f.at("source").text();
    b.grad_output = f.at("grad_output").text();
    if (!isIdentifier(b.grad_output) || spec_.input(b.grad_output)) {
      f.at("grad_output").fail("expected a new snake_case tensor name");
    }
    const Field grads = f.at("grads");
    const Semantics& s = spec_.semantics;
    // The score bias's gradient is optional: not every API returns it.
    grads.allowOnly({s.query, s.key, s.value, s.bias_tensor});
    for (const auto& role : {s.query, s.key, s.value}) b.grads[role] = grads.at(role).text();
    if (const auto bias = s.bias_tensor.empty() ? std::nullopt : grads.find(s.bias_tensor))
      b.grads[s.bias_tensor] = bias->text();
    const Field tolerance = f.at("tolerance");
    tolerance.allowOnly({"baseline_factor", "ulp_factor", "per_dtype"});
    b.tolerance = parseToleranceRule(tolerance, true);
    if (const auto per_dtype = tolerance.find("per_dtype")) {
      for (const auto& [name, body] : per_dtype->members()) {
        const DType dtype = dtypeKey(body, name);
        b.per_dtype[dtype] = parseToleranceRule(body);
      }
    }
  }

  void parsePromises(const Field& f) {
    f.allowOnly({"source", "deterministic_forward", "relations"});
    Promises& p = spec_.promises;
    p.where = f.where();
    requireSource(f.at("source"));
    p.source = f.at("source").text();
    if (const auto d = f.find("deterministic_forward")) p.deterministic_forward = d->boolean();
    if (const auto relations = f.find("relations")) {
      if (spec_.semantics.isDecodeStep())
        relations->fail("no relations: they relate attention calls, and a decode step is none");
      for (const auto& item : relations->items()) {
        const std::string name = item.text();
        const auto& all = allRelations();
        const auto it = std::find_if(all.begin(), all.end(),
                                     [&](Relation r) { return relationName(r) == name; });
        if (it == all.end()) {
          std::string known;
          for (const Relation r : all)
            known += (known.empty() ? "" : ", ") + std::string(relationName(r));
          item.fail(fmt::format("unknown relation \"{}\"; expected one of {}", name, known));
        }
        const bool packed =
            std::ranges::any_of(spec_.dims, [](const Dim& d) { return !d.packs.empty(); });
        const bool per_batch_keys =
            *it == Relation::batch_independence || *it == Relation::kv_permutation;
        if (packed && per_batch_keys)
          item.fail(fmt::format(
              "\"{}\" does not apply to packed sequences: there is no batch axis to slice, and "
              "permuting packed keys moves them between sequences",
              name));
        if (spec_.semantics.hasKvCache() && per_batch_keys)
          item.fail(fmt::format(
              "\"{}\" does not apply to a KV cache: its rows are no batch axis, and appended keys "
              "go after the cached ones",
              name));
        if (*it == Relation::paged_equals_contiguous && spec_.semantics.cache_block_table.empty())
          item.fail(
              fmt::format("\"{}\" applies only to a paged KV cache (kv_cache.block_table)", name));
        const auto& s = spec_.semantics;
        if (*it == Relation::kv_permutation && s.causal_always)
          item.fail(fmt::format(
              "\"{}\" needs calls without the causal mask, and this spec's is always on", name));
        if (*it == Relation::causal_equals_mask &&
            (s.causal_param.empty() || s.mask_tensor.empty()))
          item.fail(fmt::format("\"{}\" needs `semantics.causal` and `semantics.mask`", name));
        if (*it == Relation::split_invariance && s.splits_param.empty())
          item.fail(
              fmt::format("\"{}\" needs `semantics.splits`, the param that splits the keys", name));
        if (*it == Relation::unused_cache_ignored && !s.hasKvCache())
          item.fail(fmt::format("\"{}\" applies only to a KV cache (kv_cache)", name));
        if (*it == Relation::varlen_equals_per_sequence && !packed)
          item.fail(
              fmt::format("\"{}\" applies only to packed sequences (a dim with `packs`)", name));
        if (*it == Relation::masked_keys_appended && (s.mask_tensor.empty() || s.causal_always))
          item.fail(
              fmt::format("\"{}\" needs `semantics.mask` and calls without a causal mask "
                          "(appended keys would move its diagonal)",
                          name));
        if (*it == Relation::decode_equals_prefill && (!s.hasKvCache() || s.append_key.empty()))
          item.fail(fmt::format(
              "\"{}\" applies only to a KV cache that takes new keys (kv_cache.append)", name));
        p.relations.push_back(*it);
      }
    }
  }

  void parsePaths(const Field& f) {
    f.allowOnly({"source", "fast", "fallbacks"});
    requireSource(f.at("source"));
    spec_.paths.source = f.at("source").text();
    spec_.paths.fast = parsePathList(f.at("fast"));
    if (spec_.paths.fast.empty()) f.at("fast").fail("expected at least one fast path");
    spec_.paths.fallbacks = parsePathList(f.at("fallbacks"));
  }

 public:
  std::vector<PathDecl> parsePathList(const Field& f) const {
    std::vector<PathDecl> paths;
    for (const auto& item : f.items()) {
      item.allowOnly({"name", "when", "note"});
      PathDecl path{item.at("name").text(), {}, {}, item.where()};
      if (!isIdentifier(path.name)) item.at("name").fail("expected a snake_case path name");
      if (const auto when = item.find("when")) {
        for (const auto& condition : when->items())
          path.when.push_back(parseCheck(condition, true));
      }
      if (const auto note = item.find("note")) path.note = note->text();
      paths.push_back(std::move(path));
    }
    return paths;
  }

 private:
  Check parseCheck(const Field& f, bool in_region = false) const {
    if (const auto name = f.find("active")) {
      f.allowOnly({"active"});
      if (!in_region) f.fail("`active` describes path regions, not rules");
      requireGiven(*name);
      return ActiveCheck{name->text()};
    }
    if (const auto name = f.find("given")) {  // a rule: the call must give it
      f.allowOnly({"given"});
      if (in_region) f.fail("`given` is a rule; a path region says `active`");
      requireGiven(*name);
      return ActiveCheck{name->text()};
    }
    if (const auto name = f.find("absent")) {  // a rule: a feature the implementation refuses
      f.allowOnly({"absent"});
      if (in_region) f.fail("`absent` is a rule; a path region says `active`");
      requireGiven(*name);
      return AbsentCheck{name->text()};
    }
    if (f.find("dim")) return parseDimCheck(f, in_region);
    if (const auto tensors = f.find("dtype_of")) {
      f.allowOnly({"dtype_of", "one_of", "or_same_as"});
      DTypeCheck check{tensors->texts(), {}, {}};
      if (const auto same = f.find("or_same_as")) {
        requireInput(*same);
        check.or_same_as = same->text();
      }
      for (const auto& t : tensors->items()) requireInput(t);
      for (const auto& d : f.at("one_of").items()) check.dtypes.push_back(parseDTypeField(d));
      if (check.dtypes.empty()) f.at("one_of").fail("expected at least one dtype");
      return check;
    }
    if (const auto tensors = f.find("same_dtype")) {
      f.allowOnly({"same_dtype"});
      for (const auto& t : tensors->items()) requireInput(t);
      if (tensors->items().size() < 2) tensors->fail("expected at least two tensors");
      return SameDTypeCheck{tensors->texts()};
    }
    if (const auto tensor = f.find("indices_in")) {
      f.allowOnly({"indices_in", "below"});
      requireInput(*tensor);
      const Field below = f.at("below");
      requireDim(below, below.text());
      return IndexRangeCheck{tensor->text(), below.text()};
    }
    if (const auto param = f.find("param")) {
      f.allowOnly({"param", "min", "max"});
      requireParam(*param, ParamType::integer);
      ParamRangeCheck check{param->text(), std::nullopt, f.at("max").integer()};
      if (const auto min = f.find("min")) check.min = min->integer();
      if (check.min > check.max)
        f.fail(fmt::format("contradictory range: min {} > max {}", *check.min, check.max));
      return check;
    }
    if (const auto tensor = f.find("shape_of")) {
      f.allowOnly({"shape_of"});
      requireInput(*tensor);
      return ShapeCheck{tensor->text()};
    }
    if (const auto params = f.find("not_together")) {
      f.allowOnly({"not_together"});
      for (const auto& p : params->items()) requireGiven(p);
      return NotTogetherCheck{params->texts()};
    }
    if (const auto names = f.find("together")) {
      f.allowOnly({"together"});
      for (const auto& n : names->items()) requireGiven(n);
      if (names->items().size() < 2) names->fail("expected at least two names");
      return TogetherCheck{names->texts()};
    }
    f.fail(
        "expected one of the check kinds: dim, param, dtype_of, same_dtype, shape_of, "
        "indices_in, not_together, together, given, absent, active (regions only)");
  }

  // A condition (a path region, or a rule's `if`) may also be negated: not_multiple_of,
  // not_one_of.
  Check parseDimCheck(const Field& f, bool condition) const {
    f.allowOnly({"dim", "min", "max", "times", "multiple_of", "not_multiple_of", "divides",
                 "equals", "differs_from", "one_of", "not_one_of"});
    const Field dim_field = f.at("dim");
    const std::string dim = dim_field.text();
    requireDim(dim_field, dim);
    const auto other = [&](const char* key) {
      const Field o = f.at(key);
      requireDim(o, o.text());
      if (o.text() == dim) o.fail("expected a different dim");
      return o.text();
    };
    int conditions = (f.find("min") || f.find("max")) ? 1 : 0;
    for (const char* key : {"multiple_of", "not_multiple_of", "divides", "equals", "differs_from",
                            "one_of", "not_one_of"})
      conditions += f.find(key) ? 1 : 0;
    if (conditions != 1)
      f.fail(
          "expected exactly one condition: min/max, multiple_of, not_multiple_of (conditions "
          "only), divides, equals, differs_from, one_of or not_one_of (conditions only)");
    if (f.find("min") || f.find("max")) {
      RangeCheck range{dim, std::nullopt, std::nullopt, {}};
      // Each bound is an integer or another dim.
      const auto bound = [&](const char* key, std::optional<std::int64_t>& value,
                             std::string& other_dim) {
        const auto b = f.find(key);
        if (b && spec_.dim(b->text()))
          other_dim = other(key);
        else if (b && !std::regex_match(b->text(), std::regex("-?[0-9]+")))
          b->fail(fmt::format("expected an integer or a dim, got \"{}\"", b->text()));
        else if (b)
          value = b->integer();
      };
      bound("min", range.min, range.min_dim);
      bound("max", range.max, range.max_dim);
      if (const auto times = f.find("times")) {  // `max: DIM, times: N`: at most N * DIM
        if (range.max_dim.empty()) times->fail("`times` multiplies a dim `max`; expected one");
        if (times->integer() < 1) times->fail("expected a positive factor");
        range.max_times = times->integer();
      }
      if (range.min && range.max && *range.min > *range.max)
        f.fail(fmt::format("contradictory limits: min {} > max {}", *range.min, *range.max));
      if (range.min && *range.min < 0)
        f.at("min").fail("expected min >= 0 (extents are not negative)");
      return range;
    }
    if (const auto m = f.find("multiple_of")) {
      if (m->integer() < 1) m->fail("expected a positive factor");
      return MultipleOfCheck{dim, m->integer()};
    }
    if (const auto m = f.find("not_multiple_of")) {
      if (!condition) m->fail("`not_multiple_of` is a condition (`if`, path regions), not a rule");
      if (m->integer() < 2) m->fail("expected a factor of at least 2");
      return MultipleOfCheck{dim, m->integer(), true};
    }
    if (f.find("divides")) return DividesCheck{dim, other("divides")};
    if (f.find("equals")) return EqualsCheck{dim, other("equals"), false};
    if (f.find("differs_from")) return EqualsCheck{dim, other("differs_from"), true};
    const bool negated = f.find("not_one_of").has_value();
    const Field list = f.at(negated ? "not_one_of" : "one_of");
    if (negated && !condition)
      list.fail("`not_one_of` is a condition (`if`, path regions), not a rule");
    const auto values = list.integers();
    if (values.empty()) list.fail("expected at least one value");
    return OneOfCheck{dim, values, negated};
  }

  // Limits that no value can meet (max 4 and multiple_of 8 with min 1, say) are a contradiction.
  void checkSatisfiable() const {
    for (const auto& rule : spec_.rules) {
      const auto* range = std::get_if<RangeCheck>(&rule.check);
      if (!range) continue;
      for (const auto& other : spec_.rules) {
        const auto* multiple = std::get_if<MultipleOfCheck>(&other.check);
        if (!multiple || multiple->dim != range->dim || !range->max) continue;
        const std::int64_t lo = std::max<std::int64_t>(range->min.value_or(1), 1);
        if ((*range->max / multiple->factor) * multiple->factor < lo) {
          throw SpecError(
              rule.check_where, "rules",
              fmt::format("contradictory limits: no {} in [{}, {}] is a multiple of {} (rule {})",
                          range->dim, lo, *range->max, multiple->factor, other.id));
        }
      }
    }
    for (const auto& input : spec_.inputs) {
      std::set<DType> allowed(allDTypes().begin(), allDTypes().end());
      if (input.dtype) allowed = {*input.dtype};
      for (const auto& rule : spec_.rules) {
        const auto* check = std::get_if<DTypeCheck>(&rule.check);
        if (!check || !check->or_same_as.empty() ||
            std::find(check->tensors.begin(), check->tensors.end(), input.name) ==
                check->tensors.end())
          continue;
        std::erase_if(allowed, [&](DType d) {
          return std::find(check->dtypes.begin(), check->dtypes.end(), d) == check->dtypes.end();
        });
        if (allowed.empty()) {
          throw SpecError(
              rule.check_where, "rules",
              fmt::format("contradictory limits: no dtype of input \"{}\" satisfies rule {}",
                          input.name, rule.id));
        }
      }
    }
  }

  const Field& root_;
  ApiSpec& spec_;
  std::vector<std::pair<std::string, Field>> pending_offsets_;  ///< packed dim, its `offsets`
};

// YAML text as a node; a syntax error is a SpecError at its line and column.
YAML::Node parseYaml(const std::string& text, const std::string& origin) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw SpecError(Location{origin, e.mark.line + 1, e.mark.column + 1}, "(yaml)",
                    fmt::format("expected valid YAML: {}", e.msg));
  }
}

YAML::Node parseDocument(const std::string& text, const std::string& file) {
  YAML::Node root = parseYaml(text, file);
  if (!root.IsMap()) {
    throw SpecError(Location{file, 1, 1}, "(document)", "expected a map of spec sections");
  }
  return root;
}

ApiSpec parseRoot(const YAML::Node& root, const std::string& text, const std::string& file) {
  ApiSpec spec;
  spec.file = file;
  spec.content_hash = contentHash(text);
  const Field field(root, "", file);
  SpecParser(field, spec).parse();
  return spec;
}

// Whether `node` names `name` anywhere (a scalar, or within a map or sequence).
bool mentions(const YAML::Node& node, const std::string& name) {
  if (!node.IsDefined()) return false;
  if (node.IsScalar()) return node.Scalar() == name;
  if (node.IsSequence()) {
    return std::ranges::any_of(node, [&](const YAML::Node& n) { return mentions(n, name); });
  }
  if (node.IsMap()) {
    return std::ranges::any_of(node,
                               [&](const auto& member) { return mentions(member.second, name); });
  }
  return false;
}

// A variant without some inputs: each goes with the rules and the semantics that name it, and
// with its gradient.
void dropInputs(YAML::Node& root, const Field& dropped) {
  for (const auto& item : dropped.items()) {
    const std::string input = item.text();
    if (!root["inputs"][input].IsMap())
      item.fail(fmt::format("unknown input \"{}\"; declare it under `inputs`", input));
    root["inputs"].remove(input);
    YAML::Node kept(YAML::NodeType::Sequence);
    for (const auto& rule : root["rules"]) {
      const bool reads = mentions(rule["check"], input) || mentions(rule["if"], input) ||
                         mentions(rule["unless"], input);
      if (!reads) kept.push_back(rule);
    }
    root["rules"] = kept;
    std::vector<std::string> reading;
    for (const auto& member : root["semantics"]) {
      if (mentions(member.second, input)) reading.push_back(member.first.Scalar());
    }
    for (const auto& key : reading) root["semantics"].remove(key);
    if (root["backward"]["grads"].IsMap()) root["backward"]["grads"].remove(input);
  }
}

// A variant's rule in place of the spec's rule of the same id, else after the spec's rules.
void replaceOrAppend(YAML::Node rules, const YAML::Node& rule) {
  const auto id = [](const YAML::Node& r) {
    const YAML::Node& read = r;  // a const read adds no `id` key
    return read["id"].IsScalar() ? read["id"].Scalar() : std::string();
  };
  // Indexed: rules[i] is the sequence's element itself, which the assignment replaces.
  for (std::size_t i = 0; i < rules.size(); ++i) {  // NOLINT(modernize-loop-convert)
    if (!id(rule).empty() && id(rules[i]) == id(rule)) {
      rules[i] = rule;
      return;
    }
  }
  rules.push_back(rule);
}

// The name an `absent` rule refuses, or nothing.
std::optional<std::string> refusedBy(const YAML::Node& rule) {
  const YAML::Node& read = rule;  // a const read adds no keys
  const auto defined = [](const YAML::Node& n) { return n.IsDefined() && n.IsMap(); };
  if (!defined(read) || !defined(read["check"])) return std::nullopt;
  const YAML::Node absent = read["check"]["absent"];
  if (!absent.IsDefined() || !absent.IsScalar()) return std::nullopt;
  return absent.Scalar();
}

// A name an `absent` rule refuses takes no part in the spec any more: the rules that read it
// (its dtype, its shape, what it needs alongside) go, as a call breaking them would break the
// `absent` rule too. The semantics stay: valid calls never give the name.
void refuse(YAML::Node& root, const std::string& name) {
  YAML::Node kept(YAML::NodeType::Sequence);
  for (const auto& rule : root["rules"]) {
    const bool reads = mentions(rule["check"], name) || mentions(rule["if"], name) ||
                       mentions(rule["unless"], name);
    if (!reads || refusedBy(rule) == name) kept.push_back(rule);
  }
  root["rules"] = kept;
}

// What a variant or a profile changes in the spec it starts from: the inputs it `drop`s gone,
// its `dims`, `inputs` and `params` added (or replacing those of the same name), its `rules`
// appended (or replacing the rule of the same id; an `absent` rule takes the rules reading its
// name away) and its `relations` in place of the spec's.
void applyChanges(YAML::Node& root, const YAML::Node& body, const Field& changes) {
  if (const auto dropped = changes.find("drop")) dropInputs(root, *dropped);
  for (const char* section : {"dims", "inputs", "params"}) {
    const auto added = changes.find(section);
    if (!added) continue;
    if (!added->isMap()) added->fail("expected a map, as the spec's own");
    for (const auto& [key, unused] : added->members()) root[section][key] = body[section][key];
  }
  if (const auto rules = changes.find("rules")) {
    if (!rules->isSequence()) rules->fail("expected a list of rules, appended to the spec's");
    for (const auto& rule : body["rules"]) {
      if (const auto name = refusedBy(rule)) refuse(root, *name);
      replaceOrAppend(root["rules"], rule);
    }
  }
  if (changes.find("relations")) root["promises"]["relations"] = body["relations"];
}

// Variant `name` of a spec document: the document without its `variants`, named
// `<api>_<name>`, with the variant's changes (applyChanges), its `set` params fixed and its
// `shapes` in place. Each variant reads a fresh copy of the text, so every field keeps its line
// and column.
YAML::Node variantRoot(const std::string& text, const std::string& file, const std::string& name) {
  YAML::Node root = parseDocument(text, file);
  const YAML::Node body = root["variants"][name];
  const Field variant(body, "variants." + name, file);
  variant.allowOnly({"set", "shapes", "relations", "dims", "inputs", "params", "rules", "drop"});
  if (!isIdentifier(name)) variant.fail("expected a snake_case variant name");
  root["api"] = Field(root, "", file).at("api").text() + "_" + name;
  applyChanges(root, body, variant);
  if (const auto set = variant.find("set")) {
    for (const auto& [param, value] : set->members()) {
      if (!root["params"][param].IsMap())
        value.fail(fmt::format("unknown param \"{}\"; declare it under `params`", param));
      root["params"][param]["fixed"] = body["set"][param];
    }
  }
  if (const auto shapes = variant.find("shapes")) {
    for (const auto& [tensor, shape] : shapes->members()) {
      const char* section = root["inputs"][tensor].IsMap()    ? "inputs"
                            : root["outputs"][tensor].IsMap() ? "outputs"
                                                              : nullptr;
      if (!section)
        shape.fail(
            fmt::format("unknown tensor \"{}\"; declare it under inputs or outputs", tensor));
      root[section][tensor]["shape"] = body["shapes"][tensor];
    }
  }
  root.remove("variants");
  return root;
}

// `spec` as a sibling variant sees it.
Variant asVariant(const ApiSpec& spec) {
  Variant v{spec.api, {}, {}, {}};
  for (const auto& p : spec.params) {
    if (p.fixed) v.fixed[p.name] = *p.fixed;
  }
  for (const auto& t : spec.inputs) v.inputs.insert(t.name);
  for (const auto* tensors : {&spec.inputs, &spec.outputs}) {
    for (const auto& t : *tensors) {
      if (t.shapes.size() == 1) v.shapes[t.name] = t.shapes.front();
    }
  }
  return v;
}

// layout_equivalence relates a variant to its siblings: a file without variants has none.
void requireVariantsForLayoutEquivalence(const YAML::Node& root, const std::string& file) {
  const YAML::Node promises = root["promises"];
  if (!promises.IsMap() || !promises["relations"]) return;
  const Field relations(promises["relations"], "promises.relations", file);
  if (!relations.isSequence()) return;  // the spec parser reports it
  for (const auto& item : relations.items()) {
    if (item.isScalar() && item.text() == relationName(Relation::layout_equivalence))
      item.fail("\"layout_equivalence\" needs `variants` (the same API in other layouts)");
  }
}

// Where a profile's fields are: its text is read below its base's `base_lines` lines, so a line
// past them is the profile's own.
struct Stacked {
  std::string file, base_file;
  int base_lines = 0;

  Location place(Location at) const {
    if (at.line > base_lines) {
      at.file = file;
      at.line -= base_lines;
    } else {
      at.file = base_file;
    }
    return at;
  }

  void place(ApiSpec& spec) const {
    const auto all = [this](auto& items) {
      for (auto& item : items) item.where = place(item.where);
    };
    all(spec.inputs);
    all(spec.params);
    all(spec.outputs);
    all(spec.assumptions);
    all(spec.paths.fast);
    all(spec.paths.fallbacks);
    all(spec.rules);
    for (auto& rule : spec.rules) rule.check_where = place(rule.check_where);
    for (auto* where :
         {&spec.semantics.where, &spec.tolerance.where, &spec.promises.where, &spec.backward.where})
      *where = place(*where);
  }
};

// A profile: another implementation's take on the API of the spec file `profile_of` names,
// beside this one (flash_attn_npu's flash_attn_with_kvcache is flash-attn's, less what it
// refuses): that spec under this file's api, title and version, its sources added and its
// changes made (applyChanges). The base must be a valid spec of its own.
ApiSpec parseProfile(const std::string& text, const std::string& file) {
  const YAML::Node own = parseDocument(text, file);
  const Field profile(own, "", file);
  profile.allowOnly({"api", "title", "version", "profile_of", "sources", "relations", "dims",
                     "inputs", "params", "rules", "drop"});
  const Field of = profile.at("profile_of");
  const auto base_file =
      (std::filesystem::path(file).parent_path() / (of.text() + ".yaml")).string();
  const auto base_text = readTextFile(base_file);
  if (!base_text)
    of.fail(
        fmt::format("expected the api of a spec file beside this one; cannot read {}", base_file));
  YAML::Node root = parseDocument(*base_text, base_file);
  if (root["variants"] || root["profile_of"])
    of.fail("expected a spec without variants that is no profile itself");
  parseRoot(root, *base_text, base_file);  // the base's own mistakes are reported in its file
  const Stacked stacked{file, base_file,
                        static_cast<int>(std::ranges::count(*base_text, '\n')) + 1};
  try {
    const YAML::Node body =
        parseDocument(std::string(static_cast<std::size_t>(stacked.base_lines), '\n') + text, file);
    const Field changes(body, "", file);
    for (const char* field : {"api", "title", "version"}) {
      changes.at(field).text();  // required, and a string
      root[field] = body[field];
    }
    if (const auto sources = changes.find("sources")) {
      if (!sources->isSequence()) sources->fail("expected a list of sources, added to the base's");
      for (const auto& source : body["sources"]) root["sources"].push_back(source);
    }
    applyChanges(root, body, changes);
    ApiSpec spec = parseRoot(root, *base_text + text, file);
    stacked.place(spec);
    return spec;
  } catch (const SpecError& e) {
    throw SpecError(stacked.place(e.where()), e.field(), e.expected());
  }
}

}  // namespace

std::vector<ApiSpec> parseSpecs(const std::string& text, const std::string& file) {
  const YAML::Node root = parseDocument(text, file);
  if (root["profile_of"]) return {parseProfile(text, file)};
  if (!root["variants"]) {
    requireVariantsForLayoutEquivalence(root, file);
    return {parseRoot(root, text, file)};
  }
  const Field variants(root["variants"], "variants", file);
  if (!variants.isMap() || variants.members().empty())
    variants.fail("expected a map of variants, each {set, shapes}");
  std::vector<ApiSpec> specs;
  for (const auto& [name, body] : variants.members())
    specs.push_back(parseRoot(variantRoot(text, file, name), text, file));
  for (auto& spec : specs) {
    for (const auto& sibling : specs) {
      if (sibling.api != spec.api) spec.other_variants.push_back(asVariant(sibling));
    }
  }
  return specs;
}

ApiSpec parseSpec(const std::string& text, const std::string& file) {
  auto specs = parseSpecs(text, file);
  if (specs.size() != 1) {
    throw SpecError(Location{file, 1, 1}, "variants",
                    "expected a spec without variants here (load it with loadSpecs)");
  }
  return std::move(specs.front());
}

std::vector<ApiSpec> loadSpecs(const std::filesystem::path& file) {
  const auto text = readTextFile(file);
  if (!text)
    throw SpecError(Location{file.string(), 0, 0}, "(file)", "expected a readable spec file");
  const std::string name = file.string(), stem = file.stem().string();
  const Field api = Field(parseDocument(*text, name), "", name).at("api");
  if (api.text() != stem)
    api.fail(fmt::format(R"(expected "{}" (the file name), got "{}")", stem, api.text()));
  return parseSpecs(*text, name);
}

ApiSpec loadSpec(const std::filesystem::path& file) {
  auto specs = loadSpecs(file);
  if (specs.size() != 1) {
    throw SpecError(Location{file.string(), 1, 1}, "variants",
                    "expected a spec without variants here (load it with loadSpecs)");
  }
  return std::move(specs.front());
}

std::vector<PathDecl> parseDeclaredFallbacks(const ApiSpec& spec, const std::string& text,
                                             const std::string& origin) {
  const YAML::Node root = parseYaml(text, origin);
  if (root.IsNull()) return {};
  ApiSpec scratch = spec;  // the parser records into a spec; only the list is wanted
  const Field field(root, "fallbacks", origin);
  return SpecParser(field, scratch).parsePathList(field);
}

std::vector<ApiSpec> loadSpecFolder(const std::filesystem::path& folder) {
  std::vector<ApiSpec> specs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    if (entry.path().extension() != ".yaml") continue;
    for (auto& spec : loadSpecs(entry.path())) specs.push_back(std::move(spec));
  }
  if (ec)
    throw SpecError(Location{folder.string(), 0, 0}, "(folder)", "expected a readable spec folder");
  std::sort(specs.begin(), specs.end(),
            [](const ApiSpec& a, const ApiSpec& b) { return a.api < b.api; });
  return specs;
}

std::filesystem::path specFolder(const std::string& chosen) {
  if (!chosen.empty()) return chosen;
  if (const char* env = std::getenv("ATTNCONF_SPEC_DIR"); env && *env) return env;
  return ATTNCONF_SPEC_DIR;
}

}  // namespace attnconf::spec
