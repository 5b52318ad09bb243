// --shard I/N: split one input across N machines (or processes) so that
// each takes a disjoint part and together they take all of it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace green::tools {

/// Shard `index` of `count` (1-based index, as on the command line).
struct Shard {
  std::uint32_t index = 1;
  std::uint32_t count = 1;
  bool all() const noexcept { return count <= 1; }
};

/// Parses "I/N" with 1 <= I <= N; throws UsageError naming the text.
Shard parse_shard(std::string_view text);

/// Adds `--shard I/N` bound to `shard`.
void add_shard_option(CLI::App* app, Shard& shard);

/// Whether the item with this key belongs to `shard`. The key is a host name
/// (compared case-insensitively, without a trailing dot), so every item for
/// one host lands in the same shard and per-host limits still hold. The hash
/// (FNV-1a) is fixed: the same key goes to the same shard on every machine
/// and in every version of green.
bool in_shard(std::string_view host, const Shard& shard) noexcept;

}  // namespace green::tools
