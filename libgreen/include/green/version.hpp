// Versions of green and of the libraries it links.
#pragma once

#include <string>

namespace green {

/// green's own version, "MAJOR.MINOR.PATCH".
const char* version() noexcept;

/// One line per component: green, Boost, libcurl, c-ares (as linked at run
/// time where the library reports it).
std::string version_report();

}  // namespace green
