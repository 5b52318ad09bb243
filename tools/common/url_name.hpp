// The file name `green fetch -o DIR` saves a URL's body under. The URL comes
// from untrusted input, so the name is built to be harmless anywhere: no
// path separator, no leading dot (so never "." or ".."), never empty.
#pragma once

#include <green/http.hpp>

#include <string>

namespace green::tools {

/// The last path segment (index.html for a directory), with the query (its
/// dots made '_') between the stem and the extension so the type still shows
/// ("page_id_7.html"); only [A-Za-z0-9._-], no leading dot, at most 120
/// bytes. Before de-duplication.
std::string file_name_for(const http::Url& u);

}  // namespace green::tools
