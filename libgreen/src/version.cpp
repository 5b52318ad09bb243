#include <green/version.hpp>

#include <ares.h>
#include <curl/curl.h>
#include <boost/version.hpp>

#ifndef GREEN_VERSION
#error "GREEN_VERSION must be defined by the build"
#endif

namespace green {

const char* version() noexcept { return GREEN_VERSION; }

std::string version_report() {
  std::string out = "green ";
  out += GREEN_VERSION;
  out += "\nBoost ";
  out += std::to_string(BOOST_VERSION / 100000) + "." + std::to_string(BOOST_VERSION / 100 % 1000) + "." +
         std::to_string(BOOST_VERSION % 100);
  const curl_version_info_data* cv = curl_version_info(CURLVERSION_NOW);
  out += "\nlibcurl ";
  out += cv->version;
  if (cv->ssl_version) {
    out += " (";
    out += cv->ssl_version;
    out += ")";
  }
  out += "\nc-ares ";
  out += ares_version(nullptr);
  out += "\n";
  return out;
}

}  // namespace green
