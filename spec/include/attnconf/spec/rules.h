#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "attnconf/model/case.h"
#include "attnconf/spec/api_spec.h"

namespace attnconf::spec {

/// A summed or merged dim's extent: the sum (`Dim::sum_of`) or product (`Dim::product_of`) of
/// its parts in `dims`, a missing part 0.
std::int64_t derivedExtent(const Dim& dim, const std::map<std::string, std::int64_t>& dims);

/// The dims that inputs declare (as an axis, or a part of a packed or merged one) while none of
/// the inputs that declare them is passed (no past_key: no past keys); `passed` says which are.
std::set<std::string> dimsOfAbsentInputs(const ApiSpec& spec,
                                         const std::function<bool(const std::string&)>& passed);

/// Whether a part of `Dim::sum_of` is an integer constant rather than a dim name.
bool isConstantPart(const std::string& part);

/// Dim extents as an implementation reads them: from the first input that declares each dim
/// (with one shape), then from the params that pass a dim's extent, then the sequence count and
/// the longest length of a packed axis (from its offsets), then the innermost factor of a merged
/// axis (its extent over the outer factors), falling back to the case's generated
/// dims; the one part of a sum that none of these gives is what the sum, read off a tensor,
/// leaves (a KV cache's room before the new keys). Sums are then recomputed from their parts.
std::map<std::string, std::int64_t> observedDims(const ApiSpec& spec, const Case& c);

/// A numeric param's value: as the call gives it, else the spec's default (torch_npu's scale
/// 1.0), else `fallback` (no such param, or a None default the API computes).
double numberParam(const ApiSpec& spec, const Case& c, const std::string& name, double fallback);

/// An int param's value as numberParam reads it, 0 when neither the call nor the spec gives one.
std::int64_t intParam(const ApiSpec& spec, const Case& c, const std::string& name);

/// A bool param's value as numberParam reads it: false when neither the call nor the spec gives
/// one, or when `name` is empty (the spec binds no param).
bool boolParam(const ApiSpec& spec, const Case& c, const std::string& name);

/// The sparse mode the call picks; nullptr when the spec has none or does not declare the value.
const SparseMode* sparseModeOf(const ApiSpec& spec, const Case& c);

/// The sequence that takes a sparse mode's band (SparseMode::band_sequence): the first or the
/// last with queries; -1 when none has queries.
std::int64_t bandSequence(BandSequence which, std::span<const std::int64_t> seqlens_q);

/// The masks sparse mode `mode` gives batch entry b of `c` while the call passes the mask: its
/// causal mask, showing the entry's first `prefix[b]` keys too with a prefix input (0 when the
/// call leaves it out), and its band; with a band_sequence, the one of them the entry takes.
std::vector<MaskPrimitive> sparseModeMasks(const ApiSpec& spec, const Case& c,
                                           const SparseMode& mode, std::int64_t b);

/// The mode that gives a sequence alone the mask `mode` gives it among others: its band
/// (`banded`) or its causal mask, with nothing else (torch_npu's 4 and 3 for mode 7); nullptr
/// when the spec declares none.
const SparseMode* modeOfMaskAlone(const ApiSpec& spec, const SparseMode& mode, bool banded);

/// Each batch entry's length along a canonical axis (`seqlen_q`, `seqlen_k`): from the offsets
/// of a packed axis, else the dim's extent for every entry.
std::vector<std::int64_t> sequenceLengths(const ApiSpec& spec, const Case& c,
                                          const std::string& axis);

/// Whether the call keeps what its sparse mode assumes of the sequences: no more queries than
/// keys (`queries_within_keys`), and a band that splitting a causal sequence by queries leaves
/// (`band_sequence`): pre at least the sequence's keys, next at most 0 (bottom-right causal:
/// minus the rows cut after it) and at least Sq - Skv (top-left: the rows cut before it, less
/// Skv - Sq).
bool keepsSparseModeAssumptions(const ApiSpec& spec, const Case& c);

/// The shape the mask must have when the call's sparse mode reads it compressed (torch_npu's
/// 2048 x 2048 triangle of modes 2-4); nothing when it is read as given.
std::optional<Shape> compressedMaskShape(const ApiSpec& spec, const Case& c);

/// Where each sequence of a packed dim starts, and one more entry: the total, read from the
/// dim's offsets input in either form (`Dim::offsets_are_ends`).
std::vector<std::int64_t> sequenceOffsets(const Case& c, const Dim& packed);

/// `offsets` (each start and the total) as the packed dim's offsets input holds them.
Tensor offsetsInput(const Dim& packed, DType dtype, const std::vector<std::int64_t>& offsets);

/// The declared shapes of a tensor with dims substituted.
std::vector<Shape> expectedShapes(const TensorDecl& decl,
                                  const std::map<std::string, std::int64_t>& dims);

/// The axis of `dim` in the declared shape a passed tensor has (input or output), if any.
std::optional<std::size_t> axisOf(const ApiSpec& spec, const std::string& tensor,
                                  const Shape& shape, const std::string& dim);

/// Whether a parameter is set to something other than its default.
bool isActive(const ApiSpec& spec, const Case& c, const std::string& param);

/// Whether a call gives `name`: an input it passes or a param it sets active.
bool isGiven(const ApiSpec& spec, const Case& c, const std::string& name);

/// Whether an `absent` rule without conditions refuses `name` in every call (a feature the
/// implementation does not support), so that valid calls never give it.
bool refused(const ApiSpec& spec, const std::string& name);

/// Whether a dim condition (range, multiple, divisor, equality, one of) holds for these dim
/// extents; any other condition holds.
bool holdsForDims(const Check& check, const std::map<std::string, std::int64_t>& dims);

/// Whether the condition holds of the call.
bool holds(const ApiSpec& spec, const Case& c, const Check& check);

/// Whether the call satisfies the rule.
bool satisfies(const ApiSpec& spec, const Case& c, const Rule& rule);

/// Whether the call lies in a path's region (every condition of `when` holds).
bool inRegion(const ApiSpec& spec, const Case& c, const PathDecl& path);

/// The region as text, e.g. "headdim >= 129" or "everywhere".
std::string describeRegion(const PathDecl& path);

/// Ids of every rule the call breaks, in spec order; empty for a valid call.
std::vector<std::string> brokenRules(const ApiSpec& spec, const Case& c);

/// Whether the call keeps every assumption of the spec (what the API leaves to the caller):
/// only such calls are checked, valid or not.
bool keepsAssumptions(const ApiSpec& spec, const Case& c);

/// The dims a check reads (empty for dtype, shape and parameter checks).
std::vector<std::string> dimsRead(const Check& check);

/// The rule as one line of text, e.g. "headdim <= 256" or "dtype(q, k, v) in {fp16, bf16}".
std::string describeCheck(const Check& check);

/// The rule's check with the condition under which it applies, e.g. "cache_seqlens given when k
/// is given".
std::string describeRule(const Rule& rule);

}  // namespace attnconf::spec
