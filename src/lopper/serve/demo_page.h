// The demo page of `lopper serve`: one self-contained HTML document (styles and script inline, no
// external assets, so it works offline and on a machine with no internet access).
#pragma once
#include <string_view>

namespace lopper {

std::string_view demo_page_html();

}  // namespace lopper
