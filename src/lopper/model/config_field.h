// Typed access to a config.json field, shared by config.cpp and config_decilm.cpp, with errors that
// name the file and the key.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "lopper/util/error.h"

namespace lopper::config_detail {

// Whether `v` is a whole number that T holds. nlohmann's get<int>() does not check: it wraps
// 4294967296 to 0 and converts 1e300 with undefined behaviour (fuzz/corpus/config/crash-float-*).
// Whole floats (2048.0) are accepted, as before.
template <typename T>
bool integer_fits(const nlohmann::json& v) {
  using L = std::numeric_limits<T>;
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= static_cast<uint64_t>(L::max());
  if (v.is_number_integer()) return v.get<int64_t>() >= static_cast<int64_t>(L::min()) &&
                                    v.get<int64_t>() <= static_cast<int64_t>(L::max());
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();  // -L::min() is 2^(bits-1), exact in a double
  return std::trunc(d) == d && d >= static_cast<double>(L::min()) && d < -static_cast<double>(L::min());
}

// The field, which must be present and not null.
template <typename T>
T field(const nlohmann::json& o, const char* key, const std::string& where) {
  if (!o.contains(key) || o[key].is_null()) fail("{}: missing required field \"{}\"", where, key);
  const nlohmann::json& v = o[key];
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    static_assert(std::is_signed_v<T>, "integer_fits assumes a signed type");
    if (!integer_fits<T>(v))
      fail("{}: field \"{}\" must be an integer in [{}, {}], got {}", where, key, std::numeric_limits<T>::min(),
           std::numeric_limits<T>::max(), v.dump());
  }
  try {
    return v.get<T>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: field \"{}\" has the wrong type ({})", where, key, v.dump());
  }
}

}  // namespace lopper::config_detail
