// Precompiled header for the libtorch part of lopper: ATen is the expensive include (~7 s per file).
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <string>
#include <vector>
#include <memory>
#include <optional>
