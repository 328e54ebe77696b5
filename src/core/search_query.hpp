// search_query.hpp — what denorm.search() reads from a user's query text before
// PostgreSQL parses it with websearch_to_tsquery: the words a trigram match compares
// with titles, the excluded ones (which a trigram match must not bring back), and the
// word still being typed, whose lexeme becomes a prefix match. Never fails: any text
// is a query, possibly of no words. Layer: core (pure C++17, no PostgreSQL header).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace denorm::core {

// A query longer than this many bytes is cut (at a character boundary, by the glue) and
// its cut last word dropped: websearch_to_tsquery recurses once per word and a search
// box never needs more.
constexpr size_t kSearchQueryMaxBytes = 1024;
// The trigram match compares at most this many words with a title, each of at least
// kFuzzyMinChars characters (the glue counts them, and drops stop words too): a shorter
// word has too few trigrams to tell a typo from another word, and would make nearly every
// title a candidate.
constexpr size_t kFuzzyMaxWords = 8;
constexpr int kFuzzyMinChars = 4;
// The trigram match ranks at most this many candidate titles (in the order the index
// gives them): a typo of a word half the titles contain must not cost a pass over all.
constexpr int kFuzzyCandidates = 1000;

struct SearchQuery {
    std::string text;                    // what websearch_to_tsquery parses
    std::vector<std::string> words;      // words neither excluded nor an "or" operator, in order
    std::vector<std::string> excluded;   // words written -word (outside quotes)
    std::optional<std::string> typing;   // the last word when the text ends in it (no space,
                                         // quote or punctuation after it) and it is not excluded
    // The excluded words as one websearch query of alternatives ("a or b"); empty: none.
    std::string excluded_text() const;
};

// `text` is the query, already cut to at most kSearchQueryMaxBytes bytes at a character
// boundary; `was_cut` says it was, and then its last word, possibly cut too, is dropped.
// Word characters are ASCII letters, digits and '_' and every byte >= 0x80 (any
// non-ASCII character): what PostgreSQL's text search parser may take as a word.
SearchQuery parse_search_query(std::string_view text, bool was_cut);

}  // namespace denorm::core
