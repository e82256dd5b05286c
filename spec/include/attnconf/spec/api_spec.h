#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "attnconf/model/case.h"
#include "attnconf/model/dtype.h"
#include "attnconf/model/mask.h"
#include "attnconf/model/problem.h"

namespace attnconf::spec {

/// Where something was written in a spec file (1-based line and column).
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

/// A document a spec was written from.
struct Source {
  std::string id;
  std::string cite;
};

/// What a dimension counts; generators choose edge values by kind (tile edges for seqlen,
/// divisors for heads, ...).
enum class DimKind { batch, seqlen, heads, head_dim };

/// A named dimension of the API's tensors, e.g. `seqlen_q`.
struct Dim {
  std::string name;
  DimKind kind = DimKind::seqlen;
  /// A derived dim: the sum of these earlier dims (ONNX's total_sequence_length = past + new)
  /// or integer constants (cu_seqlens' batch + 1), never drawn on its own. A part that only
  /// absent inputs carry counts 0.
  std::vector<std::string> sum_of;
  /// A merged dim: the product of these earlier dims, their axes laid out as one, outermost
  /// first (ONNX's 3-D q_hidden_size = q_num_heads * head_size). Never drawn on its own.
  std::vector<std::string> product_of;
  /// A packed dim: the sequences of `packs[0]` (a batch dim), each at most `packs[1]` long,
  /// laid end to end (flash-attn's total_q); the input `offsets` holds where each starts, and
  /// one more entry, the total. Its extent is drawn with the offsets, never on its own.
  std::vector<std::string> packs;
  std::string offsets;
  /// `offsets` holds each sequence's end alone, without the leading 0 (torch_npu's
  /// actual_seq_qlen: lengths 2 2 2 are passed as 2 4 6). sequenceOffsets reads either form.
  bool offsets_are_ends = false;
  /// The packed dim of the same sequences' keys, if they must have some: no sequence has
  /// queries without keys (torch_npu's TND layout does not support it).
  std::string keys_in;

  /// Summed or merged: its extent is computed from its parts (derivedExtent).
  bool fromParts() const { return !sum_of.empty() || !product_of.empty(); }
  bool derived() const { return fromParts() || !packs.empty(); }
  /// The dims its one axis lays out (a packed or merged dim), or none.
  const std::vector<std::string>& axisParts() const { return packs.empty() ? product_of : packs; }
};

/// An input or output tensor: its shape in dim names (one or more accepted alternatives).
struct TensorDecl {
  std::string name;
  std::vector<std::vector<std::string>> shapes;  ///< alternatives; the first is the usual one
  std::optional<DType> dtype;                    ///< fixed dtype, if any (otherwise set by rules)
  std::string dtype_same_as;                     ///< output dtype: that input's dtype
  /// With `dtype_same_as`: the input dtypes whose output comes in another dtype (FlashAttention-3
  /// returns bf16 for fp8_e4m3 inputs).
  std::map<DType, DType> dtype_except;
  /// Inputs: the dtypes the spec covers (empty = all). Calls in other dtypes are outside the
  /// spec: never generated, neither as valid nor as invalid calls.
  std::vector<DType> covered_dtypes;
  bool optional = false;  ///< may be left out (None)
  /// Numpy broadcasting: the tensor broadcasts to a declared shape (any axis may have extent 1,
  /// leading axes may be left out); generated valid calls keep every axis (a mask).
  bool broadcast = false;
  /// With `broadcast`: the dims whose axes alone may be 1, the rank kept (ORT's attention_bias);
  /// empty: any axis, and leading axes may be left out.
  std::vector<std::string> broadcast_dims;
  double uniform_lo = 0, uniform_hi = 0;  ///< values drawn uniformly if hi > lo
  std::string lengths_of;  ///< values are sequence lengths in [0, this dim] (edges favoured)
  /// With `lengths_of`: the lengths leave this dim's extent free (a cache keeps room for the
  /// keys the call appends), so they lie in [0, lengths_of - room_for].
  std::string room_for;
  /// With `lengths_of`: each value is at most the same entry of this earlier input, when the
  /// call gives it (flash-attn's cache_leftpad within cache_seqlens).
  std::string lengths_at_most;
  /// With `lengths_of`: each value is at least the `lengths_of` dim's extent less this dim's
  /// (torch_npu's prefix: the keys a bottom-right diagonal does not already show every query).
  std::string lengths_at_least_excess_over;
  std::string indices_of;  ///< values are distinct indices in [0, this dim) (cache rows)
  /// Every value is this dim's extent plus `extent_plus` (ORT's seqlens_k, the key count - 1).
  std::string extent_of;
  std::int64_t extent_plus = 0;
  std::string when;  ///< outputs: the bool param or input that asks for it
  /// Outputs: the concatenation of these inputs along the output's derived (sum_of) axis,
  /// returned exactly (ONNX's present_key = concat(past_key, K)).
  std::vector<std::string> concat;
  /// Outputs: the value is stored this many times along a last axis not in `shapes`
  /// (torch_npu's softmax_max, (B, N, Sq, 8)); 0 = no such axis.
  std::int64_t copies = 0;
  /// Outputs: the input of the same name as the call leaves it (an API that writes into it, as
  /// flash-attn appends to its KV cache); expected exactly as the semantics say it becomes.
  bool in_place = false;
  Location where;

  /// An output's dtype in call `c`: the fixed one, or that of the input it follows.
  DType outputDType(const Case& c) const;
};

/// Parameter types in the vendor's terms.
enum class ParamType { boolean, integer, floating, int_pair, string };

/// A scalar or tuple parameter of the API.
struct ParamDecl {
  std::string name;
  ParamType type = ParamType::boolean;
  std::optional<ParamValue> default_value;  ///< nothing = None (a computed default)
  double generate_lo = 0, generate_hi = 0;  ///< range the generators draw from
  std::string generate_hi_dim;              ///< or a dim name as the upper bound
  /// Or (int params) the values valid calls draw from, each as likely: `generate: {one_of}`
  /// (torch_npu's TND sparse modes, which skip 5 and 6).
  std::vector<std::int64_t> generate_choices;
  std::string unchecked;  ///< non-empty: declared, never compared; says why
  /// The extent of this dim, always passed (flash-attn's max_seqlen_q); no default.
  std::string extent_of;
  /// Always passed with this value (torch_npu's `input_layout="BNSD"` in the spec's BNSD
  /// variant); takes no default or generate.
  std::optional<ParamValue> fixed;
  Location where;
};

/// `dim` lies in [min, max]; either bound may instead be another dim (`min_dim`, `max_dim`), the
/// upper one times `max_times` (torch_npu's query heads per key head: n1 <= 64 * n2).
struct RangeCheck {
  std::string dim;
  std::optional<std::int64_t> min, max;
  std::string max_dim;
  std::string min_dim = {};
  std::int64_t max_times = 1;
};
/// `dim` is a multiple of `factor` (or, `negated`, is not: path regions only).
struct MultipleOfCheck {
  std::string dim;
  std::int64_t factor = 1;
  bool negated = false;
};
/// `dim` divides `other`.
struct DividesCheck {
  std::string dim, other;
};
/// `dim` equals `other` (or, `differs`, does not).
struct EqualsCheck {
  std::string dim, other;
  bool differs = false;
};
/// `dim` is one of `values` (or, `negated`, none of them: conditions and path regions only).
struct OneOfCheck {
  std::string dim;
  std::vector<std::int64_t> values;
  bool negated = false;
};
/// Each of `tensors` has a dtype in `dtypes`, or the dtype of input `or_same_as` if one is named.
struct DTypeCheck {
  std::vector<std::string> tensors;
  std::vector<DType> dtypes;
  std::string or_same_as;
};
/// All of `tensors` share one dtype.
struct SameDTypeCheck {
  std::vector<std::string> tensors;
};
/// `tensor` has (one of) its declared shapes.
struct ShapeCheck {
  std::string tensor;
};
/// `names` are not all given at once: a param is given when present and not equal to its
/// default, an input when passed.
struct NotTogetherCheck {
  std::vector<std::string> names;
};

/// `names` are given all together or none of them (ONNX's past_key and past_value).
struct TogetherCheck {
  std::vector<std::string> names;
};

/// `name` is an active parameter or a passed tensor (`active` in a path region, `given` in a
/// rule: ONNX's 3-D form needs q_num_heads).
struct ActiveCheck {
  std::string name;
};

/// `name` is not given: a feature the implementation refuses (flash_attn_npu's alibi_slopes),
/// which valid calls never use.
struct AbsentCheck {
  std::string name;
};

/// Every entry of the integer input `tensor` is an index in [0, extent of `below`) (a page
/// table's pages exist).
struct IndexRangeCheck {
  std::string tensor, below;
};

/// The int parameter `param`, when the call gives it, lies in [min, max] (torch_npu's
/// sparse_mode); without a min, at most max (flash-attn 3's num_splits, where <= 0 means "choose").
struct ParamRangeCheck {
  std::string param;
  std::optional<std::int64_t> min;
  std::int64_t max = 0;
};

/// The structured condition of a rule or of a path region: what must hold of a call.
using Check = std::variant<RangeCheck, MultipleOfCheck, DividesCheck, EqualsCheck, OneOfCheck,
                           DTypeCheck, SameDTypeCheck, ShapeCheck, NotTogetherCheck, TogetherCheck,
                           ActiveCheck, AbsentCheck, IndexRangeCheck, ParamRangeCheck>;

/// One rule of the error contract: a call that breaks it must be rejected.
struct Rule {
  std::string id;      ///< CamelCase, e.g. KvHeadsNotDivisor
  std::string source;  ///< id of the Source it comes from
  std::string error;   ///< regex the rejection message must match (ECMAScript, case-insensitive)
  std::string note;
  Check check;
  std::string unless;  ///< a param or input; while it is given, the rule does not apply
  /// Params or inputs; the rule applies only while the call gives all of them.
  std::vector<std::string> if_given;
  /// Dim checks; the rule applies only while all hold (ORT's batch of 1 for a prompt after a
  /// past: `if: [past_key, {dim: sequence_length, min: 2}]`).
  std::vector<Check> if_dims;
  Location where;        ///< the rule's entry
  Location check_where;  ///< its `check`, where contradictions are reported
};

/// A code path an implementation may take, and the inputs it applies to.
struct PathDecl {
  std::string name;         ///< e.g. "flash", "standard"
  std::vector<Check> when;  ///< all must hold; empty = every valid call
  std::string note;
  Location where;
};

/// The paths an API declares: its fast path(s), and the fallbacks it admits to with their
/// regions. A valid call outside every fallback region must run a fast path (or be rejected).
struct Paths {
  std::string source;
  std::vector<PathDecl> fast;
  std::vector<PathDecl> fallbacks;
};

/// Which sequence of a varlen call a sparse mode gives its band: the first or the last that
/// has queries.
enum class BandSequence { first_with_queries, last_with_queries };

/// How a sparse mode reads the mask tensor.
enum class ModeMask {
  as_given,  ///< the mask takes part as passed
  /// As passed, but it must be the mode's own mask written out, one per batch entry (Ascend's
  /// mode 5, BNSS or B1SS); generated calls pass exactly that.
  spelled_out,
  /// It only marks the mode's own mask (the compressed 2048x2048 triangle of modes 2-4).
  compressed,
};

/// One value of Ascend's `sparse_mode`: the masks a call with that mode applies, while it passes
/// the mask tensor (without one, no mode masks anything).
struct SparseMode {
  std::int64_t value = 0;
  ModeMask mask = ModeMask::as_given;
  std::optional<Alignment> causal;  ///< a causal mask with this alignment
  std::optional<Alignment> band;    ///< the pre/next band, with this origin
  /// With both a causal mask and a band: the one sequence that takes the band instead of the
  /// causal mask, the others taking the causal mask alone (Ascend's modes 7 and 8, a varlen
  /// call split by query across cards). Without it each sequence takes both.
  std::optional<BandSequence> band_sequence;
  /// The mode assumes no sequence has more queries than keys (Ascend's mode 7).
  bool queries_within_keys = false;
  /// An int input, one entry per batch entry: the causal mask also shows every query of entry b
  /// its first `prefix[b]` keys (Ascend's prefix modes 5 and 6). Valid calls of the mode give it.
  std::string prefix;
  /// The compressed mask's shape in this mode, when not the spec's (mode 6's 3072 x 2048).
  Shape compressed_mask_shape;

  /// Whether the mask takes part as passed (it is not a compressed marker).
  bool takesMaskAsGiven() const { return mask != ModeMask::compressed; }
};

/// The vendor's names of a decode step's state and what it reads (torch_npu's
/// npu_advance_step_flashattn): an API that updates a paged-attention server's model input for
/// the next token instead of computing attention. The state tensors are updated in place.
struct DecodeStepRoles {
  std::string input_tokens, input_positions, seq_lens, slot_mapping;  ///< state, updated
  std::string sampled;      ///< (queries, 1): each query's new token
  std::string block_table;  ///< (sequences, blocks): each sequence's cache block numbers
  std::string block_size;   ///< int param: cache slots per block
};

/// How the vendor's names bind to the canonical problem.
struct Semantics {
  std::map<std::string, std::string> canonical;  ///< canonical dim name -> spec dim
  std::string query, key, value;                 ///< tensor names
  std::string scale_param;    ///< softmax scale param; None means 1/sqrt(head_dim)
  std::string softcap_param;  ///< empty if the API has none
  std::string splits_param;   ///< int param: pieces the keys are split into (0: the kernel picks)
  bool softcap_after_mask = false;  ///< ONNX's order: the softcap after the mask bias and masks
  std::string causal_param;         ///< bool param that turns the causal mask on
  bool causal_always = false;       ///< a causal mask without a param: every call is causal
  Alignment causal_alignment = Alignment::bottom_right;
  bool causal_shift_by_past = false;  ///< the diagonal moves right by the past keys (ONNX)
  std::string window_param;           ///< int_pair param (left, right); -1 = unbounded
  Alignment window_alignment = Alignment::bottom_right;
  std::string alibi_tensor;  ///< slopes tensor, (heads) or (batch, heads)
  Alignment alibi_alignment = Alignment::bottom_right;
  /// An attention sink: one logit per query head, (heads), in every row's softmax. Without the
  /// tensor, the bool param `zero_sink_param` gives every head a sink of 0 (ORT's smooth_softmax).
  std::string sink_tensor, zero_sink_param;
  std::string past_key, past_value;  ///< cached keys and values put before the new ones
  /// Per-batch lengths (the same tensor for both when one length covers queries and keys):
  /// query rows past theirs are 0, keys past theirs take no part.
  std::string query_lengths_tensor, key_lengths_tensor;
  /// A KV cache (`key` and `value` are the caches): batch entry b reads cache row
  /// `cache_batch_index[b]` (its own index without one) and the keys [0, cache_seqlens[b]) of
  /// it (all without one); `append_key/value` are written after those, in place, and attended.
  std::string cache_seqlens, cache_batch_index, append_key, append_value;
  /// Per-entry first position (flash-attn's cache_leftpad): entry b's keys are the positions
  /// [cache_leftpad[b], cache_seqlens[b]) of its row, then the appended ones. Positions stay
  /// those of the row: keys are appended and rotated where they lie in it.
  std::string cache_leftpad;
  /// A paged cache: `key` and `value` are (pages, page positions, ...); position p of batch
  /// entry b lives in page `cache_block_table[b, p / page size]` at p % page size.
  std::string cache_block_table;
  /// Rotary position embedding of a KV cache call: the new keys and the queries are rotated by
  /// the rows of `rotary_cos`/`rotary_sin` (rotary_dim / 2 wide) at their positions in the
  /// cache before attention, and the keys are written into the cache rotated. Channel pairs
  /// (2i, 2i+1) when `rotary_interleaved_param` is true (GPT-J), else (i, i + rotary_dim / 2).
  std::string rotary_cos, rotary_sin, rotary_interleaved_param;
  /// Dequantisation of 8-bit inputs (FlashAttention-3's q/k/v_descale): (batch, heads_kv)
  /// factors that multiply the query, key and value of each batch entry and kv head (a query
  /// head takes its kv head's), read only while the query's dtype is one of `descale_dtypes`.
  std::string q_descale, k_descale, v_descale;
  std::vector<DType> descale_dtypes;
  std::string mask_tensor;         ///< explicit mask: bool, or floating and added to the scores
  bool mask_true_keeps = true;     ///< a bool mask's true lets the key take part (else hides it)
  bool mask_may_be_bool = false;   ///< `bool_true_means` is declared (a float-only mask has none)
  std::string bias_tensor;         ///< an additive score bias besides the mask (JAX's `bias`)
  bool bias_before_scale = false;  ///< added to QK^T before the scale (torch_npu's `pse`)
  /// Ascend's sparse_mode: the int param that picks a SparseMode, and the band's int params.
  std::string sparse_mode_param, band_pre_param, band_next_param;
  std::vector<SparseMode> sparse_modes;
  /// The shape of the mask a `compressed` mode takes: its upper triangle (key past query) true,
  /// hidden, the rest false (torch_npu's 2048 x 2048).
  Shape compressed_mask_shape;
  FullyMaskedRows fully_masked_rows;
  std::string out, lse;  ///< output names
  /// Outputs of the softmax statistics: each row's largest score and the sum of exp(score -
  /// that max) (torch_npu's softmax_max and softmax_sum); empty when not returned.
  std::string row_max, row_sum;
  /// Set for a decode-step API, which computes no attention: every attention role above is
  /// empty, and the spec has no tolerance, paths or backward.
  std::optional<DecodeStepRoles> decode_step;
  Location where;

  bool isDecodeStep() const { return decode_step.has_value(); }
  bool hasKvCache() const { return !cache_seqlens.empty(); }
  bool hasRotary() const { return !rotary_cos.empty(); }
};

/// The bound on |actual - exact| for one output:
///   bound = baseline_factor * max|baseline - exact| + ulp_factor * eps(dtype) * scale,
/// where baseline is the reference run in the input dtype (scores, probabilities and output
/// rounded as standard attention in that dtype rounds them; Tolerance::baselines may say
/// otherwise), eps is that of the dtype the baseline stores its tensors in,
/// and scale is max|V| for the output and max(1, max|lse|) for the LSE.
struct ToleranceRule {
  double baseline_factor = 2.0;
  double ulp_factor = 2.0;
};

/// Per-output tolerance, with optional per-dtype overrides.
struct Tolerance {
  std::map<std::string, ToleranceRule> per_output;  ///< by role: "out", "lse"
  std::map<DType, std::map<std::string, ToleranceRule>> per_dtype;
  /// By input dtype: where the baseline rounds when not all in the input dtype (FlashAttention-3's
  /// fp8 test rounds P alone to fp8, the rest to bf16). Its `dtype` is also the one whose epsilon
  /// the ulp term takes.
  std::map<DType, Precision> baselines;
  std::string why;
  Location where;

  /// The rule for an output role and input dtype.
  ToleranceRule rule(const std::string& role, DType dtype) const;
  /// Where the baseline rounds for an input dtype.
  Precision baseline(DType dtype) const;
};

/// A relation two calls of one implementation must satisfy (metamorphic testing).
enum class Relation {
  batch_independence,      ///< a batch entry run alone gives that entry's output
  head_independence,       ///< a query head (with its kv head) run alone gives that head's output
  gqa_equals_repeated_kv,  ///< GQA equals MHA with each kv head repeated for its query heads
  kv_permutation,  ///< without masks or position bias, permuting keys and values together changes
                   ///< nothing
  paged_equals_contiguous,     ///< a paged cache with its pages moved into table order (the memory
                               ///< of a contiguous cache) gives the same outputs
  decode_equals_prefill,       ///< the last query decoded alone, the other new keys already cached,
                               ///< gives the last query row of the call that appends them all
  unused_cache_ignored,        ///< cache slots no entry reads (past its keys, spare rows or pages)
                               ///< filled with large values change nothing
  split_invariance,            ///< splitting the keys into another number of pieces changes nothing
  causal_equals_mask,          ///< the causal flag gives what the explicit mask it stands for gives
  layout_equivalence,          ///< the same problem in the spec's first layout variant (the second,
                               ///< for the first) gives the same outputs, moved into that layout
  varlen_equals_per_sequence,  ///< a packed sequence run alone gives its rows of the packed call
  masked_keys_appended,        ///< keys appended behind the mask, hidden from every query, change
                               ///< nothing
};

/// The spec name of a relation, e.g. "batch_independence".
std::string_view relationName(Relation relation);

/// Every relation of the vocabulary.
const std::vector<Relation>& allRelations();

/// Properties beyond accuracy that the API promises.
struct Promises {
  bool deterministic_forward = false;  ///< the same call twice gives bitwise-identical outputs
  std::vector<Relation> relations;     ///< the metamorphic relations that hold for the API
  std::string source;
  Location where;
};

/// The backward pass of a training API: the gradient it takes for the output and the ones it
/// returns for the inputs, with their tolerance.
struct Backward {
  std::string source;
  std::string grad_output;  ///< the case tensor holding dLoss/dout
  /// input (query, key, value, and the score bias if the API returns its gradient) -> gradient
  std::map<std::string, std::string> grads;
  ToleranceRule tolerance;
  std::map<DType, ToleranceRule> per_dtype;  ///< overrides of `tolerance` by input dtype
  Location where;
  bool declared() const { return !grad_output.empty(); }
  /// The rule for an input dtype.
  ToleranceRule rule(DType dtype) const {
    const auto it = per_dtype.find(dtype);
    return it == per_dtype.end() ? tolerance : it->second;
  }
};

/// A loaded, validated spec of one API.
/// Another variant of the same spec file: the same API in another layout.
struct Variant {
  std::string api;
  std::map<std::string, ParamValue> fixed;  ///< the params the variant sets
  /// The shape of each tensor (inputs and outputs) that has a single form.
  std::map<std::string, std::vector<std::string>> shapes;
  std::set<std::string> inputs;  ///< every input it takes
};

struct ApiSpec {
  std::string api;
  std::string title;
  std::string version;
  std::string file;
  std::string content_hash;  ///< FNV-1a of the file's bytes, hex
  std::vector<Source> sources;
  std::vector<Dim> dims;
  std::vector<TensorDecl> inputs;
  std::vector<ParamDecl> params;
  std::vector<TensorDecl> outputs;
  std::vector<Rule> rules;
  /// What a call must keep that the API does not check (the caller's duty; breaking it is
  /// undefined, as a read past a table): generated calls, valid or not, always keep these.
  std::vector<Rule> assumptions;
  Semantics semantics;
  Tolerance tolerance;
  Paths paths;
  Promises promises;
  Backward backward;
  /// The other variants of the spec's file, in file order; empty for a file without variants.
  std::vector<Variant> other_variants;

  const Dim* dim(const std::string& name) const;
  const TensorDecl* input(const std::string& name) const;
  const TensorDecl* output(const std::string& name) const;
  const ParamDecl* param(const std::string& name) const;
  const Rule* rule(const std::string& id) const;
  const Rule* assumption(const std::string& id) const;
  /// The packed dim that lays out the sequences of `seqlen` (a dim of its `packs`), if any.
  const Dim* packedDimOf(const std::string& seqlen) const;
};

/// The spec name of a dim kind.
std::string_view dimKindName(DimKind kind);

}  // namespace attnconf::spec
