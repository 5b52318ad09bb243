// What `green serve chat` does to the bytes a user sends, apart from the
// sockets: whitespace stripping, name rules and UTF-8 repair. Pure functions,
// so the fuzz target (tests/fuzz/chat_line.cpp) reaches them without a server.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace green::tools::chat {

/// Longest name, in characters.
constexpr std::size_t kMaxName = 32;

/// Longest line, in bytes; the rest of a longer line is dropped.
constexpr std::size_t kMaxLine = 4096;

/// `line` came from read_line(kMaxLine + 1): a longer line is cut to its
/// first kMaxLine bytes. Returns true when the rest of that line is still in
/// the stream, to be skipped.
bool cut_line(std::string& line) noexcept;

/// Python's str.strip() on ASCII whitespace, as the seed does to every line.
std::string_view strip(std::string_view s) noexcept;

/// Length of the valid UTF-8 sequence at s[i] (i < s.size()), or 0 if it is
/// not one (overlong forms and surrogates included).
std::size_t utf8_len(std::string_view s, std::size_t i) noexcept;

/// Invalid UTF-8 and control characters (other than tab) each become
/// U+FFFD, so nothing a user sends can corrupt another user's terminal or
/// the line structure. The result is valid UTF-8 with no byte below 0x20
/// but tab, and no 0x7F.
std::string sanitize(std::string_view s);

/// 1-32 characters of valid UTF-8, none of them a space or control character.
bool valid_name(std::string_view s) noexcept;

/// A valid name that would read as something else in the chat: starting
/// with '/' (a command word: "/who"), '#' (a server notice: "## ...") or '~'
/// (a backlog line: "~ alice> hi"), or "server" in any case.
bool reserved_name(std::string_view s) noexcept;

}  // namespace green::tools::chat
