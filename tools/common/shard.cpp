#include "common/shard.hpp"

#include "common/subcommand.hpp"

#include <CLI/CLI.hpp>

#include <charconv>

namespace green::tools {

Shard parse_shard(std::string_view text) {
  auto bad = [&] {
    return UsageError("invalid shard '" + std::string(text) + "': want I/N with 1 <= I <= N, e.g. 2/8");
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) throw bad();
  Shard s;
  auto parse = [&](std::string_view part, std::uint32_t& out) {
    const auto r = std::from_chars(part.data(), part.data() + part.size(), out);
    if (r.ec != std::errc() || r.ptr != part.data() + part.size() || part.empty()) throw bad();
  };
  parse(text.substr(0, slash), s.index);
  parse(text.substr(slash + 1), s.count);
  if (s.count == 0 || s.index == 0 || s.index > s.count) throw bad();
  return s;
}

void add_shard_option(CLI::App* app, Shard& shard) {
  app->add_option_function<std::string>(
         "--shard", [&shard](const std::string& text) { shard = parse_shard(text); },
         "Take only part I of N of the input, split by host (for running one job on N machines)")
      ->type_name("I/N")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            try {
              parse_shard(text);
              return {};
            } catch (const UsageError& e) {
              return e.what();
            }
          },
          ""));
}

bool in_shard(std::string_view host, const Shard& shard) noexcept {
  if (shard.all()) return true;
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::uint64_t h = 14695981039346656037ULL;
  for (char c : host) {
    const auto lower = static_cast<unsigned char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    h = (h ^ lower) * 1099511628211ULL;
  }
  return h % shard.count == shard.index - 1;
}

}  // namespace green::tools
