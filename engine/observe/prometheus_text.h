// PrometheusText: writes the Prometheus text exposition format (version 0.0.4): a family's
// HELP and TYPE lines, then its samples with escaped label values.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jobstore::observe {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusText {
 public:
  // Starts a family: `type` is "counter", "gauge" or "histogram".
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const std::vector<Label>& labels, uint64_t value);
  void Sample(std::string_view name, const std::vector<Label>& labels, double value);
  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Start(std::string_view name, const std::vector<Label>& labels);
  std::string out_;
};

// A number as the format writes it: the shortest text that reads back as `value`, "+Inf" for
// infinity.
std::string FormatNumber(double value);

}  // namespace jobstore::observe
