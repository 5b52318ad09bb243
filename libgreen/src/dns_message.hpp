// DNS wire-format parsing for green::dns. c-ares 1.18's ares_parse_*_reply
// functions drop the TTL of every type but A and AAAA and cannot parse a
// mixed answer section (CNAMEs then targets), so green reads the answer
// section itself. Private to libgreen.
#pragma once

#include <green/dns.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace green::dns::wire {

/// Appends the answer section's records of the message to `out`. Returns
/// false and sets `error` when the message is malformed.
bool parse_answers(const unsigned char* msg, std::size_t len, std::vector<Record>& out, std::string& error);

/// The response code in the header (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED).
int rcode(const unsigned char* msg, std::size_t len) noexcept;

}  // namespace green::dns::wire
