#include "prometheus_text.h"

#include <charconv>
#include <cmath>

namespace jobstore::observe {
namespace {

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
void Escape(std::string* out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      *out += "\\\\";
    } else if (c == '\n') {
      *out += "\\n";
    } else if (c == '"' && quote) {
      *out += "\\\"";
    } else {
      *out += c;
    }
  }
}

}  // namespace

std::string FormatNumber(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::isnan(value)) return "NaN";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, r.ptr);
}

void PrometheusText::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  Escape(&out_, help, false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::Start(std::string_view name, const std::vector<Label>& labels) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      Escape(&out_, labels[i].second, true);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void PrometheusText::Sample(std::string_view name, const std::vector<Label>& labels,
                            uint64_t value) {
  Start(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::Sample(std::string_view name, const std::vector<Label>& labels,
                            double value) {
  Start(name, labels);
  out_ += FormatNumber(value);
  out_ += '\n';
}

}  // namespace jobstore::observe
