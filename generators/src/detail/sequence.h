#pragma once

#include <rapidcheck.h>

#include <vector>

namespace attnconf::gen::detail {

/// One value from each generator, in order; shrinks the earlier values first.
template <class T>
rc::Gen<std::vector<T>> sequence(std::vector<rc::Gen<T>> gens, std::size_t index = 0,
                                 std::vector<T> done = {}) {
  if (index == gens.size()) return rc::gen::just(std::move(done));
  rc::Gen<T> head = gens[index];
  return rc::gen::mapcat(head, [gens = std::move(gens), index, done](T value) {
    std::vector<T> next = done;
    next.push_back(std::move(value));
    return sequence(gens, index + 1, std::move(next));
  });
}

}  // namespace attnconf::gen::detail
