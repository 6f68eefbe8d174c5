// The string rules lm-eval's task code applies (Python semantics, on valid UTF-8).
#pragma once
#include <string>
#include <string_view>

namespace lopper {

// HellaSwag's preprocess(): strip(), " [title]" -> ". ", remove every "[...]" (non-greedy, not
// across a newline, Python's re.sub("\\[.*?\\]", "", t)), then one left-to-right pass of
// replace("  ", " ").
std::string hellaswag_preprocess(std::string_view text);

// Python's str.capitalize() (3.8+): the first character in title case, the rest in lower case,
// with Python's multi-character mappings for the common cases (U+0130, sharp s, Latin ligatures)
// and the final-sigma rule for lower case.
std::string python_capitalize(std::string_view text);

// Python's str.lower() (full mappings as above).
std::string python_lower(std::string_view text);

// COPA's convert_choice(): choice[0].lower() + choice[1:].
std::string copa_convert_choice(std::string_view choice);

}  // namespace lopper
