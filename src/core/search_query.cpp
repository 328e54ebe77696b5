// search_query.cpp — see search_query.hpp. The rules follow websearch_to_tsquery's:
// '"' opens and closes a phrase, '-' directly before a word outside a phrase excludes
// it, a lone "or" outside a phrase is the OR operator, anything else separates words.
// Layer: core (pure C++17).
#include "core/search_query.hpp"

namespace denorm::core {

namespace {

bool is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

bool is_or(std::string_view word)
{
    return word.size() == 2 && (word[0] == 'o' || word[0] == 'O') && (word[1] == 'r' || word[1] == 'R');
}

std::string joined(const std::vector<std::string> &words, const char *separator, size_t max)
{
    std::string out;
    for (size_t i = 0; i < words.size() && i < max; i++) {
        if (i) out += separator;
        out += words[i];
    }
    return out;
}

}  // namespace

std::string SearchQuery::excluded_text() const { return joined(excluded, " or ", excluded.size()); }

SearchQuery parse_search_query(std::string_view text, bool was_cut)
{
    if (was_cut) {
        // Drop the (possibly cut) last word: back to the last byte that ends no word.
        size_t end = text.size();
        while (end > 0 && is_word_byte(static_cast<unsigned char>(text[end - 1]))) end--;
        text = text.substr(0, end);
    }
    SearchQuery q;
    q.text = std::string(text);
    bool in_quotes = false;
    bool last_excluded = false;
    size_t i = 0;
    while (i < text.size()) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        if (c == '"') {
            in_quotes = !in_quotes;
            i++;
            continue;
        }
        if (!is_word_byte(c)) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < text.size() && is_word_byte(static_cast<unsigned char>(text[i]))) i++;
        std::string_view word = text.substr(start, i - start);
        // "-word": the '-' starts a token (it follows no word character), outside quotes;
        // in "full-text" it joins two words.
        bool excluded = !in_quotes && start > 0 && text[start - 1] == '-' &&
                        (start == 1 || !is_word_byte(static_cast<unsigned char>(text[start - 2])));
        last_excluded = excluded;
        if (excluded)
            q.excluded.emplace_back(word);
        else if (in_quotes || !is_or(word))
            q.words.emplace_back(word);
    }
    if (!text.empty() && is_word_byte(static_cast<unsigned char>(text.back())) && !last_excluded) {
        size_t start = text.size();
        while (start > 0 && is_word_byte(static_cast<unsigned char>(text[start - 1]))) start--;
        q.typing = std::string(text.substr(start));
    }
    return q;
}

}  // namespace denorm::core
