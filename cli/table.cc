#include "table.h"

#include <algorithm>
#include <cstdio>

namespace jobstore::cli {

size_t TextWidth(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string Shorten(const std::string& text, size_t width) {
  std::string out;
  size_t used = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    std::string piece;
    if (c < 0x20 || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      piece = buf;
    } else {
      piece.assign(1, static_cast<char>(c));
      while (i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80) {
        piece.push_back(text[++i]);
      }
    }
    size_t w = c < 0x20 || c == 0x7f ? piece.size() : 1;
    if (used + w > width) {
      // Cut: make room for "..." within the width.
      while (!out.empty() && TextWidth(out) + 3 > width) {
        do {
          out.pop_back();
        } while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80);
      }
      return out + "...";
    }
    out += piece;
    used += w;
  }
  return out;
}

Table::Table(std::vector<std::string> headers, std::string align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), 'l');
}

void Table::Add(std::vector<std::string> row) {
  row.resize(headers_.size());
  rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = TextWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], TextWidth(row[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string pad(width[c] - TextWidth(cells[c]), ' ');
      bool last = c + 1 == cells.size();
      if (c > 0) text += "  ";
      text += align_[c] == 'r' ? pad + cells[c] : (last ? cells[c] : cells[c] + pad);
    }
    // An empty last cell (a total row's BACKEND) leaves no trailing blanks.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

}  // namespace jobstore::cli
