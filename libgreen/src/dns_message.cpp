// Reading DNS messages and writing records and names in presentation form.
#include "dns_message.hpp"

#include <arpa/inet.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace green::dns {

namespace {

struct TypeName {
  Type type;
  const char* name;
};
constexpr TypeName kTypes[] = {
    {Type::a, "A"},   {Type::ns, "NS"},   {Type::cname, "CNAME"}, {Type::soa, "SOA"}, {Type::ptr, "PTR"},
    {Type::mx, "MX"}, {Type::txt, "TXT"}, {Type::aaaa, "AAAA"},   {Type::srv, "SRV"}, {Type::caa, "CAA"},
};

// A table, not a chain of comparisons: every byte of every name read or
// checked goes through it (name_error and the answer parser took a fifth of
// resolve's user-space instructions).
constexpr auto kPlainNameByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) {
    t[static_cast<std::size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                                     c == '-' || c == '_' || c == '*' || c == '/';
  }
  return t;
}();

bool plain_name_byte(unsigned char c) noexcept { return kPlainNameByte[c]; }

// A label byte as dig writes it, into buf at n (room for 4 more); the new length.
std::size_t put_label_byte(char* buf, std::size_t n, unsigned char c) noexcept {
  if (plain_name_byte(c)) {
    buf[n++] = static_cast<char>(c);
  } else if (c == '.' || c == '\\') {
    buf[n++] = '\\';
    buf[n++] = static_cast<char>(c);
  } else {
    buf[n++] = '\\';
    buf[n++] = static_cast<char>('0' + c / 100);
    buf[n++] = static_cast<char>('0' + c / 10 % 10);
    buf[n++] = static_cast<char>('0' + c % 10);
  }
  return n;
}

void append_escaped_label_byte(std::string& out, unsigned char c) {
  char buf[4];
  out.append(buf, put_label_byte(buf, 0, c));
}

// A character-string of TXT/CAA as dig writes it: quoted, with '"' and '\'
// escaped and bytes outside printable ASCII as \DDD.
void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c > 0x7e) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

class Reader {
 public:
  Reader(const unsigned char* msg, std::size_t len) : msg_(msg), len_(len) {}

  bool u8(std::size_t& pos, std::uint8_t& v) const {
    if (pos + 1 > len_) return false;
    v = msg_[pos++];
    return true;
  }
  bool u16(std::size_t& pos, std::uint16_t& v) const {
    if (pos + 2 > len_) return false;
    v = static_cast<std::uint16_t>(msg_[pos] << 8 | msg_[pos + 1]);
    pos += 2;
    return true;
  }
  bool u32(std::size_t& pos, std::uint32_t& v) const {
    if (pos + 4 > len_) return false;
    v = static_cast<std::uint32_t>(msg_[pos]) << 24 | static_cast<std::uint32_t>(msg_[pos + 1]) << 16 |
        static_cast<std::uint32_t>(msg_[pos + 2]) << 8 | msg_[pos + 3];
    pos += 4;
    return true;
  }

  // Reads a possibly compressed name at `pos` (advancing it past the name's
  // bytes in place) into presentation form, or only checks it when `out` is
  // null. Pointers must go backwards, which also rules out loops. The name
  // is put together on the stack and assigned once: appended byte by byte
  // it cost a reallocation or two per name.
  bool name(std::size_t& pos, std::string* out) const {
    char buf[4 * 255];  // 255 wire bytes, each escaped as \DDD at most
    std::size_t n = 0;
    std::size_t p = pos;
    bool jumped = false;
    std::size_t total = 0;
    for (;;) {
      if (p >= len_) return false;
      const std::uint8_t c = msg_[p];
      if ((c & 0xC0) == 0xC0) {
        if (p + 1 >= len_) return false;
        const std::size_t target = static_cast<std::size_t>(c & 0x3F) << 8 | msg_[p + 1];
        if (target >= p) return false;
        if (!jumped) pos = p + 2;
        jumped = true;
        p = target;
        continue;
      }
      if ((c & 0xC0) != 0) return false;  // extended label types are obsolete
      if (c == 0) {
        if (!jumped) pos = p + 1;
        break;
      }
      if (p + 1 + c > len_) return false;
      total += c + 1u;
      if (total > 255) return false;
      if (out) {
        if (n > 0) buf[n++] = '.';
        for (std::size_t i = 0; i < c; ++i) n = put_label_byte(buf, n, msg_[p + 1 + i]);
      }
      p += 1 + c;
    }
    if (out) {
      if (n == 0) buf[n++] = '.';
      out->assign(buf, n);
    }
    return true;
  }
  bool name(std::size_t& pos, std::string& out) const { return name(pos, &out); }

  const unsigned char* at(std::size_t pos) const { return msg_ + pos; }
  std::size_t size() const { return len_; }

 private:
  const unsigned char* msg_;
  std::size_t len_;
};

bool parse_rdata(const Reader& r, std::uint16_t type, std::size_t pos, std::size_t end, Data& data) {
  Reader rd = r;
  auto name_at = [&](std::size_t& p, std::string& out) { return rd.name(p, out) && p <= end; };
  switch (static_cast<Type>(type)) {
    case Type::a: {
      if (end - pos != 4) return false;
      A a;
      std::memcpy(a.addr, r.at(pos), 4);
      data = a;
      return true;
    }
    case Type::aaaa: {
      if (end - pos != 16) return false;
      AAAA a;
      std::memcpy(a.addr, r.at(pos), 16);
      data = a;
      return true;
    }
    case Type::cname: {
      CNAME c;
      if (!name_at(pos, c.target)) return false;
      data = std::move(c);
      return true;
    }
    case Type::ns: {
      NS n;
      if (!name_at(pos, n.host)) return false;
      data = std::move(n);
      return true;
    }
    case Type::ptr: {
      PTR p;
      if (!name_at(pos, p.name)) return false;
      data = std::move(p);
      return true;
    }
    case Type::mx: {
      MX m;
      if (!r.u16(pos, m.preference) || !name_at(pos, m.exchange)) return false;
      data = std::move(m);
      return true;
    }
    case Type::txt: {
      TXT t;
      while (pos < end) {
        const std::size_t n = *r.at(pos);
        if (pos + 1 + n > end) return false;
        t.strings.emplace_back(reinterpret_cast<const char*>(r.at(pos + 1)), n);
        pos += 1 + n;
      }
      data = std::move(t);
      return true;
    }
    case Type::soa: {
      SOA s;
      if (!name_at(pos, s.mname) || !name_at(pos, s.rname)) return false;
      if (pos + 20 > end) return false;
      r.u32(pos, s.serial);
      r.u32(pos, s.refresh);
      r.u32(pos, s.retry);
      r.u32(pos, s.expire);
      r.u32(pos, s.minimum);
      data = std::move(s);
      return true;
    }
    case Type::srv: {
      SRV s;
      if (pos + 6 > end) return false;
      r.u16(pos, s.priority);
      r.u16(pos, s.weight);
      r.u16(pos, s.port);
      if (!name_at(pos, s.target)) return false;
      data = std::move(s);
      return true;
    }
    case Type::caa: {
      CAA c;
      if (pos + 2 > end) return false;
      c.flags = *r.at(pos);
      const std::size_t tag_len = *r.at(pos + 1);
      pos += 2;
      if (pos + tag_len > end) return false;
      c.tag.assign(reinterpret_cast<const char*>(r.at(pos)), tag_len);
      pos += tag_len;
      c.value.assign(reinterpret_cast<const char*>(r.at(pos)), end - pos);
      data = std::move(c);
      return true;
    }
  }
  data = Unknown{std::string(reinterpret_cast<const char*>(r.at(pos)), end - pos)};
  return true;
}

}  // namespace

std::string type_name(std::uint16_t type) {
  for (const auto& t : kTypes) {
    if (static_cast<std::uint16_t>(t.type) == type) return t.name;
  }
  return "TYPE" + std::to_string(type);
}

std::optional<Type> parse_type(std::string_view text) {
  for (const auto& t : kTypes) {
    const std::size_t n = std::strlen(t.name);
    if (n != text.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < n && same; ++i) {
      char c = text[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      same = c == t.name[i];
    }
    if (same) return t.type;
  }
  return std::nullopt;
}

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::ok:
      return "NOERROR";
    case Status::nxdomain:
      return "NXDOMAIN";
    case Status::nodata:
      return "NODATA";
    case Status::servfail:
      return "SERVFAIL";
    case Status::refused:
      return "REFUSED";
    case Status::timeout:
      return "TIMEOUT";
    case Status::error:
      return "ERROR";
  }
  return "ERROR";
}

std::string Record::value() const {
  std::string out;
  char buf[64];
  std::visit(
      [&](const auto& d) {
        using T = std::decay_t<decltype(d)>;
        if constexpr (std::is_same_v<T, A>) {
          // By hand: glibc's inet_ntop formats IPv4 through sprintf, which
          // was 8% of `green resolve`'s user time on 100,000 answers.
          char* p = buf;
          for (int i = 0; i < 4; ++i) {
            if (i) *p++ = '.';
            const unsigned v = d.addr[i];
            if (v >= 100) *p++ = static_cast<char>('0' + v / 100);
            if (v >= 10) *p++ = static_cast<char>('0' + v / 10 % 10);
            *p++ = static_cast<char>('0' + v % 10);
          }
          out.assign(buf, p);
        } else if constexpr (std::is_same_v<T, AAAA>) {
          inet_ntop(AF_INET6, d.addr, buf, sizeof buf);
          out = buf;
        } else if constexpr (std::is_same_v<T, CNAME>) {
          out = d.target;
        } else if constexpr (std::is_same_v<T, NS>) {
          out = d.host;
        } else if constexpr (std::is_same_v<T, PTR>) {
          out = d.name;
        } else if constexpr (std::is_same_v<T, MX>) {
          out = std::to_string(d.preference) + " " + d.exchange;
        } else if constexpr (std::is_same_v<T, TXT>) {
          for (const auto& s : d.strings) {
            if (!out.empty()) out += ' ';
            append_quoted(out, s);
          }
          if (d.strings.empty()) out = "\"\"";
        } else if constexpr (std::is_same_v<T, SOA>) {
          out = d.mname + " " + d.rname + " " + std::to_string(d.serial) + " " + std::to_string(d.refresh) + " " +
                std::to_string(d.retry) + " " + std::to_string(d.expire) + " " + std::to_string(d.minimum);
        } else if constexpr (std::is_same_v<T, SRV>) {
          out = std::to_string(d.priority) + " " + std::to_string(d.weight) + " " + std::to_string(d.port) + " " +
                d.target;
        } else if constexpr (std::is_same_v<T, CAA>) {
          // A tag is letters and digits (RFC 8659), but it comes off the
          // wire as any bytes: escaped, so it cannot break an output line.
          out = std::to_string(d.flags) + " ";
          for (unsigned char c : d.tag) append_escaped_label_byte(out, c);
          out += ' ';
          append_quoted(out, d.value);
        } else {
          out = "\\# " + std::to_string(d.rdata.size());
          if (!d.rdata.empty()) out += ' ';
          for (unsigned char c : d.rdata) {
            std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>(c));
            out += buf;
          }
        }
      },
      data);
  return out;
}

const char* name_error(std::string_view name) noexcept {
  if (name.empty()) return "empty name";
  if (name == ".") return nullptr;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.size() > 253) return "name longer than 253 bytes";
  std::size_t label = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      if (label == 0) return "empty label";
      if (label > 63) return "label longer than 63 bytes";
      label = 0;
      continue;
    }
    const auto c = static_cast<unsigned char>(name[i]);
    if (!plain_name_byte(c)) {
      static thread_local char msg[48];
      if (c > 0x20 && c < 0x7f) {
        std::snprintf(msg, sizeof msg, "invalid character '%c'", c);
      } else {
        std::snprintf(msg, sizeof msg, "invalid byte 0x%02X", static_cast<unsigned>(c));
      }
      return msg;
    }
    ++label;
  }
  return nullptr;
}

std::optional<std::string> reverse_name(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  unsigned char addr[16];
  if (inet_pton(AF_INET, buf, addr) == 1) {
    char out[32];
    std::snprintf(out, sizeof out, "%u.%u.%u.%u.in-addr.arpa", addr[3], addr[2], addr[1], addr[0]);
    return std::string(out);
  }
  if (inet_pton(AF_INET6, buf, addr) == 1) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(73);
    for (int i = 15; i >= 0; --i) {
      out += hex[addr[i] & 0xF];
      out += '.';
      out += hex[addr[i] >> 4];
      out += '.';
    }
    out += "ip6.arpa";
    return out;
  }
  return std::nullopt;
}

namespace wire {

int rcode(const unsigned char* msg, std::size_t len) noexcept {
  if (!msg || len < 12) return -1;
  return msg[3] & 0x0F;
}

bool parse_answers(const unsigned char* msg, std::size_t len, std::vector<Record>& out, std::string& error) {
  const Reader r(msg, len);
  std::size_t pos = 0;
  std::uint16_t id, flags, qdcount, ancount, nscount, arcount;
  if (!r.u16(pos, id) || !r.u16(pos, flags) || !r.u16(pos, qdcount) || !r.u16(pos, ancount) || !r.u16(pos, nscount) ||
      !r.u16(pos, arcount)) {
    error = "reply shorter than a DNS header";
    return false;
  }
  for (std::uint16_t i = 0; i < qdcount; ++i) {
    std::uint16_t qtype, qclass;
    if (!r.name(pos, nullptr) || !r.u16(pos, qtype) || !r.u16(pos, qclass)) {
      error = "malformed question section";
      return false;
    }
  }
  out.reserve(out.size() + ancount);
  for (std::uint16_t i = 0; i < ancount; ++i) {
    Record rec;
    std::uint16_t klass, rdlength;
    if (!r.name(pos, rec.name) || !r.u16(pos, rec.type) || !r.u16(pos, klass) || !r.u32(pos, rec.ttl) ||
        !r.u16(pos, rdlength) || pos + rdlength > len) {
      error = "malformed answer record";
      return false;
    }
    const std::size_t end = pos + rdlength;
    if (!parse_rdata(r, rec.type, pos, end, rec.data)) {
      error = "malformed " + type_name(rec.type) + " record";
      return false;
    }
    pos = end;
    if (rec.ttl > 0x7FFFFFFFu) rec.ttl = 0;  // RFC 2181 8: a TTL with the top bit set means zero
    out.push_back(std::move(rec));
  }
  return true;
}

}  // namespace wire

}  // namespace green::dns
