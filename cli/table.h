// Human output: aligned tables and shortened cells.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace jobstore::cli {

class Table {
 public:
  // `align` has one letter per column: 'l' or 'r' (numbers). Missing letters mean 'l'.
  Table(std::vector<std::string> headers, std::string align = "");
  void Add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  // The header, then the rows, columns separated by two spaces; the last column unpadded.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::string align_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text (code points; control bytes are escaped before this).
size_t TextWidth(const std::string& text);
// `text` on one line, at most `width` wide: control characters escaped, "..." when cut.
std::string Shorten(const std::string& text, size_t width);

}  // namespace jobstore::cli
