#include "common/cli_docs.hpp"

#include "common/output.hpp"
#include "common/subcommand.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <utility>

namespace green::tools {

namespace {

struct Values {
  std::vector<std::string> values;
  bool comma_list = false;
};

std::map<const CLI::Option*, Values>& value_table() {
  static std::map<const CLI::Option*, Values> table;
  return table;
}

enum class ValueKind { none, any, file, dir, list };

struct OptionInfo {
  std::vector<std::string> longs;   // without dashes
  std::vector<std::string> shorts;  // without the dash
  ValueKind kind = ValueKind::none;
  std::string type_name;
  std::string description;
  std::string full_description;  // with range, choices, default and exclusions
  Values values;
};

struct CommandInfo {
  std::string name;
  std::string description;
  std::vector<OptionInfo> options;
  bool positional_files = false;
  std::vector<std::string> first_words;  // the words the first positional takes (serve's modes), if fixed
};

// What an option's value is, in plain words. CLI11 glues ":" and each
// validator's description onto the type name ("UINT:UINT in [1 - 10000]",
// "WHEN:{auto,always,never}"); a name may hold a colon itself
// ("ADDR[:PORT]"), so only those descriptions are cut off, from the end.
struct ValueNotes {
  std::string type;                  // N, DUR, ADDR[:PORT]; empty for a flag
  std::string range;                 // "1 to 10000", "at least 1", "above 0"
  std::vector<std::string> choices;  // a fixed set of words
  bool whole = false;                // an integer
};

std::string plain_number(std::string n) {  // "0.000000" -> "0"
  if (n.find('.') != std::string::npos) {
    while (n.back() == '0') n.pop_back();
    if (n.back() == '.') n.pop_back();
  }
  return n;
}

std::string range_words(const std::string& lo, const std::string& hi) {
  const double low = std::strtod(lo.c_str(), nullptr), high = std::strtod(hi.c_str(), nullptr);
  if (high < 1e12) return plain_number(lo) + " to " + plain_number(hi);
  return low > 0 && low < 1e-300 ? "above 0" : "at least " + plain_number(lo);  // no upper bound to speak of
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

ValueNotes value_notes(const CLI::Option* o) {
  ValueNotes n;
  if (o->get_expected_max() == 0) return n;
  std::string full = o->get_type_name();
  auto* opt = const_cast<CLI::Option*>(o);  // CLI11 2.1 hands out validators only from non-const options
  std::vector<std::string> descs;
  for (int i = 0;; ++i) {
    try {
      descs.push_back(opt->get_validator(i)->get_description());
    } catch (const CLI::OptionNotFound&) {
      break;
    }
  }
  static const std::regex range(R"(in \[(\S+) - (\S+)\]$)");
  for (auto it = descs.rbegin(); it != descs.rend(); ++it) {
    const std::string& d = *it;
    if (d.empty()) continue;
    if (full.size() > d.size() && full.ends_with(":" + d)) full.resize(full.size() - d.size() - 1);
    std::smatch m;
    if (d.size() > 2 && d.front() == '{' && d.back() == '}') {
      n.choices = split(d.substr(1, d.size() - 2), ',');
    } else if (std::regex_search(d, m, range)) {
      n.range = range_words(m[1], m[2]);
      n.whole = d.starts_with("INT") || d.starts_with("UINT");
    } else if (d == "POSITIVE") {
      n.range = "above 0";
    } else if (d == "NONNEGATIVE") {
      n.range = "at least 0";
    }
  }
  if (full == "UINT" || full == "INT" || full == "FLOAT" || full == "NUMBER") full = "N";
  n.type = full;
  return n;
}

bool mentions(const std::string& text, const std::string& word) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  return lower(text).find(lower(word)) != std::string::npos;
}

// The description with what CLI11 would otherwise print in its own syntax
// (range, choices, default, exclusions) said once, in words, at its end.
std::string full_description(const CLI::Option* o, const ValueNotes& notes) {
  std::string desc = o->get_description();
  std::vector<std::string> extras;
  if (!notes.range.empty()) extras.push_back(notes.range);
  if (!notes.choices.empty() &&
      !std::all_of(notes.choices.begin(), notes.choices.end(), [&](const auto& c) { return mentions(desc, c); })) {
    std::string list;
    for (const auto& c : notes.choices) list += (list.empty() ? "" : ", ") + c;
    extras.push_back("one of " + list);
  }
  // Descriptions that explain their default ("default 1m; 0: never") keep it.
  if (o->get_expected_max() > 0 && !o->get_default_str().empty() && !mentions(desc, "default"))
    extras.push_back("default " + o->get_default_str());
  for (const CLI::Option* other : o->get_excludes()) extras.push_back("not with " + other->get_name());
  if (extras.empty()) return desc;
  std::string tail;
  for (const auto& e : extras) tail += (tail.empty() ? "" : "; ") + e;
  return desc + " (" + tail + ")";
}

ValueKind kind_of(const CLI::Option* o, const Values* v) {
  if (o->get_expected_max() == 0) return ValueKind::none;  // a flag
  if (v && !v->values.empty()) return ValueKind::list;
  const std::string t = o->get_type_name();
  if (t == "DIR") return ValueKind::dir;
  if (t == "FILE" || t == "PATH") return ValueKind::file;
  return ValueKind::any;
}

CommandInfo describe(const CLI::App& app) {
  CommandInfo info;
  info.name = app.get_name();
  info.description = app.get_description();
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    if (o->get_lnames().empty() && o->get_snames().empty()) {
      // Every positional of ours is FILE..., or a word from a fixed list
      // (completion_values) followed by files.
      if (auto it = value_table().find(o); it != value_table().end() && info.first_words.empty()) {
        info.first_words = it->second.values;
      } else {
        info.positional_files = true;
      }
      continue;
    }
    OptionInfo oi;
    oi.longs = o->get_lnames();
    oi.shorts = o->get_snames();
    auto it = value_table().find(o);
    const Values* v = it == value_table().end() ? nullptr : &it->second;
    oi.kind = kind_of(o, v);
    if (v) oi.values = *v;
    const ValueNotes notes = value_notes(o);
    oi.type_name = notes.type;
    oi.description = o->get_description();
    oi.full_description = full_description(o, notes);
    info.options.push_back(std::move(oi));
  }
  return info;
}

std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty() && !s->get_name().empty(); });
}

std::string join(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

std::vector<std::string> option_words(const CommandInfo& c) {
  std::vector<std::string> words;
  for (const auto& o : c.options) {
    for (const auto& l : o.longs) words.push_back("--" + l);
    for (const auto& s : o.shorts) words.push_back("-" + s);
  }
  return words;
}

std::string bash_case_labels(const OptionInfo& o) {
  std::vector<std::string> labels;
  for (const auto& l : o.longs) labels.push_back("--" + l);
  for (const auto& s : o.shorts) labels.push_back("-" + s);
  return join(labels, "|");
}

// ---- bash ---------------------------------------------------------------------

std::string bash(const CLI::App& app) {
  std::ostringstream out;
  const CommandInfo top = describe(app);
  std::vector<CommandInfo> subs;
  for (const CLI::App* s : visible_subcommands(app)) subs.push_back(describe(*s));
  std::vector<std::string> names;
  for (const auto& s : subs) names.push_back(s.name);

  out << "# bash completion for green; generated by `green --generate-completions bash`.\n"
         "_green_words() {  # complete \"$2\" from the words in $1, after the last comma if $3 is set\n"
         "  local cur=\"$2\" pre=\"\"\n"
         "  if [[ -n \"$3\" && \"$cur\" == *,* ]]; then pre=\"${cur%,*},\"; cur=\"${cur##*,}\"; fi\n"
         "  COMPREPLY=($(compgen -P \"$pre\" -W \"$1\" -- \"$cur\"))\n"
         "}\n"
         "_green() {\n"
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" sub=\"\" i\n"
         "  COMPREPLY=()\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    case \"${COMP_WORDS[i]}\" in\n"
         "      "
      << join(names, "|")
      << ") sub=\"${COMP_WORDS[i]}\"; break ;;\n"
         "    esac\n"
         "  done\n"
         "  case \"$sub\" in\n"
         "    \"\")\n"
         "      COMPREPLY=($(compgen -W \""
      << join(names) << " " << join(option_words(top))
      << "\" -- \"$cur\"))\n"
         "      ;;\n";
  for (const auto& s : subs) {
    out << "    " << s.name << ")\n      case \"$prev\" in\n";
    for (const auto& o : s.options) {
      switch (o.kind) {
        case ValueKind::none:
          break;
        case ValueKind::list:
          out << "        " << bash_case_labels(o) << ") _green_words \"" << join(o.values.values) << "\" \"$cur\" "
              << (o.values.comma_list ? "1" : "\"\"") << "; return ;;\n";
          break;
        case ValueKind::file:
          out << "        " << bash_case_labels(o) << ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n";
          break;
        case ValueKind::dir:
          out << "        " << bash_case_labels(o) << ") COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n";
          break;
        case ValueKind::any:
          out << "        " << bash_case_labels(o) << ") return ;;\n";
          break;
      }
    }
    out << "      esac\n"
           "      if [[ \"$cur\" == -* ]]; then\n"
           "        COMPREPLY=($(compgen -W \""
        << join(option_words(s)) << "\" -- \"$cur\"))\n";
    if (!s.first_words.empty()) {
      out << "      elif [[ \"$prev\" == " << s.name << " ]]; then\n        _green_words \"" << join(s.first_words)
          << "\" \"$cur\" \"\"\n";
    }
    if (s.positional_files) out << "      else\n        COMPREPLY=($(compgen -f -- \"$cur\"))\n";
    out << "      fi\n      ;;\n";
  }
  out << "  esac\n"
         "}\n"
         "complete -o filenames -o bashdefault -F _green green\n";
  return out.str();
}

// ---- zsh ----------------------------------------------------------------------

std::string zsh_quote(std::string s) {  // inside '...' and an _arguments [description]
  std::string out;
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else if (c == '[')
      out += '(';
    else if (c == ']')
      out += ')';
    else if (c == ':')
      out += "\\:";
    else
      out += c;
  }
  return out;
}

std::string zsh_spec(const OptionInfo& o) {
  std::vector<std::string> names;
  for (const auto& s : o.shorts) names.push_back("-" + s);
  for (const auto& l : o.longs) names.push_back("--" + l);
  std::string action;
  switch (o.kind) {
    case ValueKind::none:
      break;
    case ValueKind::any:
      action = ":" + zsh_quote(o.type_name.empty() ? "VALUE" : o.type_name) + ": ";
      break;
    case ValueKind::file:
      action = ":file:_files";
      break;
    case ValueKind::dir:
      action = ":directory:_files -/";
      break;
    case ValueKind::list:
      action = o.values.comma_list ? ":" + zsh_quote(o.type_name) + ":_sequence compadd - " + join(o.values.values)
                                   : ":" + zsh_quote(o.type_name) + ":(" + join(o.values.values) + ")";
      break;
  }
  std::string spec;
  const std::string desc = "[" + zsh_quote(o.description) + "]";
  if (names.size() == 1) {
    spec = "'" + names[0] + desc + action + "'";
  } else {
    // (-c --concurrency){-c,--concurrency}'[...]:...'
    spec = "'(" + join(names) + ")'{" + join(names, ",") + "}'" + desc + action + "'";
  }
  return spec;
}

std::string zsh(const CLI::App& app) {
  std::ostringstream out;
  const CommandInfo top = describe(app);
  out << "#compdef green\n# zsh completion for green; generated by `green --generate-completions zsh`.\n"
         "_green() {\n"
         "  local curcontext=\"$curcontext\" state line\n"
         "  typeset -A opt_args\n"
         "  _arguments -C \\\n";
  for (const auto& o : top.options) out << "    " << zsh_spec(o) << " \\\n";
  out << "    '1: :->command' \\\n"
         "    '*:: :->args'\n"
         "  case $state in\n"
         "    command)\n"
         "      local -a commands\n"
         "      commands=(\n";
  const auto subs = visible_subcommands(app);
  for (const CLI::App* s : subs)
    out << "        '" << zsh_quote(s->get_name()) << ":" << zsh_quote(s->get_description()) << "'\n";
  out << "      )\n"
         "      _describe -t commands 'green command' commands\n"
         "      ;;\n"
         "    args)\n"
         "      case $line[1] in\n";
  for (const CLI::App* sa : subs) {
    const CommandInfo s = describe(*sa);
    out << "        " << s.name << ")\n          _arguments \\\n";
    for (const auto& o : s.options) out << "            " << zsh_spec(o) << " \\\n";
    if (!s.first_words.empty()) out << "            '1: :(" << join(s.first_words) << ")' \\\n";
    out << "            " << (s.positional_files ? "'*:file:_files'" : "'*: :'") << "\n          ;;\n";
  }
  out << "      esac\n"
         "      ;;\n"
         "  esac\n"
         "}\n"
         "if [ \"$funcstack[1]\" = \"_green\" ]; then _green \"$@\"; else compdef _green green; fi\n";
  return out.str();
}

// ---- fish ---------------------------------------------------------------------

std::string fish_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish(const CLI::App& app) {
  std::ostringstream out;
  const CommandInfo top = describe(app);
  out << "# fish completion for green; generated by `green --generate-completions fish`.\n"
         "complete -c green -f\n";
  auto option_line = [&](const std::string& cond, const OptionInfo& o, const std::string& /*cmd*/) {
    out << "complete -c green -n " << fish_quote(cond);
    for (const auto& s : o.shorts) out << " -s " << s;
    for (const auto& l : o.longs) out << " -l " << l;
    switch (o.kind) {
      case ValueKind::none:
        break;
      case ValueKind::any:
        out << " -x";
        break;
      case ValueKind::file:
        out << " -r -F";
        break;
      case ValueKind::dir:
        out << " -x -a '(__fish_complete_directories)'";
        break;
      case ValueKind::list:
        out << " -x -a " << fish_quote(join(o.values.values));
        break;
    }
    out << " -d " << fish_quote(o.description) << "\n";
  };
  for (const auto& o : top.options) option_line("__fish_use_subcommand", o, "");
  for (const CLI::App* sa : visible_subcommands(app)) {
    const CommandInfo s = describe(*sa);
    out << "complete -c green -n __fish_use_subcommand -a " << s.name << " -d " << fish_quote(s.description) << "\n";
    const std::string cond = "__fish_seen_subcommand_from " + s.name;
    for (const auto& o : s.options) option_line(cond, o, s.name);
    if (!s.first_words.empty()) {
      out << "complete -c green -n "
          << fish_quote(cond + "; and not __fish_seen_subcommand_from " + join(s.first_words)) << " -a "
          << fish_quote(join(s.first_words)) << "\n";
    }
    if (s.positional_files) out << "complete -c green -n " << fish_quote(cond) << " -F\n";
  }
  return out.str();
}

// ---- man ----------------------------------------------------------------------

std::string roff_escape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else if ((c == '.' || c == '\'') && (i == 0 || s[i - 1] == '\n'))
      out += "\\&" + std::string(1, c);
    else
      out += c;
  }
  return out;
}

// ---- --help ---------------------------------------------------------------------

constexpr std::size_t kHelpLeft = 30;  // where descriptions start
constexpr std::size_t kHelpWidth = 100;

// "  LEFT   description" with the description wrapped under itself.
std::string help_row(const std::string& left, const std::string& desc) {
  std::string out = "  " + left;
  if (out.size() + 2 > kHelpLeft) {
    out += "\n" + std::string(kHelpLeft, ' ');
  } else {
    out.resize(kHelpLeft, ' ');
  }
  std::size_t col = kHelpLeft;
  bool first = true;
  std::istringstream words(desc);
  for (std::string w; words >> w; first = false) {
    if (!first && col + 1 + w.size() > kHelpWidth) {
      out += "\n" + std::string(kHelpLeft, ' ');
      col = kHelpLeft;
    } else if (!first) {
      out += ' ';
      ++col;
    }
    out += w;
    col += w.size();
  }
  return out + "\n";
}

bool takes_many(const CLI::Option* o) { return o->get_expected_max() >= CLI::detail::expected_max_vector_size; }

// FILE..., MODE, [DIR], [-- MAIN...]: what a positional is called in help.
std::string positional_word(const CLI::Option* o) {
  const std::string type = value_notes(o).type;
  std::string word = type.empty() || type == "TEXT" || type == "N" ? o->get_name(true, false) : type;
  if (takes_many(o) && !word.ends_with("...")) word += "...";
  return word;
}

class HelpFormatter : public CLI::Formatter {
 public:
  HelpFormatter() { label("Positionals", "Arguments"); }

  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string out = "Usage: " + name;
    if (!visible_subcommands(*app).empty()) out += " COMMAND";
    if (!app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty()) out += " [OPTIONS]";
    for (const CLI::Option* o : app->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      const std::string word = positional_word(o);
      out += o->get_required() ? " " + word : " [" + word + "]";
    }
    return out + "\n";
  }

  std::string make_option(const CLI::Option* o, bool positional) const override {
    const ValueNotes notes = value_notes(o);
    std::string left;
    if (positional) {
      left = positional_word(o);
    } else {
      std::vector<std::string> names;
      for (const auto& sn : o->get_snames()) names.push_back("-" + sn);
      for (const auto& ln : o->get_lnames()) names.push_back("--" + ln);
      left = (o->get_snames().empty() ? "    " : "") + join(names, ", ");
      if (!notes.type.empty()) left += " " + notes.type;
    }
    return help_row(left, full_description(o, notes));
  }

  std::string make_subcommand(const CLI::App* sub) const override {
    return help_row(sub->get_name(), sub->get_description());
  }
};

// Levenshtein distance, for "did you mean".
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& sn : o->get_snames()) names.push_back("-" + sn);
  }
  return names;
}

std::string quoted_list(std::vector<std::string> words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "'" : " '") + w + "'";
  return out;
}

}  // namespace

void completion_values(CLI::Option* opt, std::vector<std::string> values, bool comma_list) {
  value_table()[opt] = Values{std::move(values), comma_list};
}

std::string generate_completions(const CLI::App& app, const std::string& shell) {
  if (shell == "bash") return bash(app);
  if (shell == "zsh") return zsh(app);
  if (shell == "fish") return fish(app);
  throw UsageError("no completions for shell '" + shell + "' (bash, zsh, fish)");
}

std::string generate_man_options(const CLI::App& app, const std::string& sub) {
  const CLI::App* target = &app;
  if (!sub.empty()) {
    target = nullptr;
    for (const CLI::App* s : visible_subcommands(app))
      if (s->get_name() == sub) target = s;
    if (!target) throw UsageError("no subcommand '" + sub + "'");
  }
  const CommandInfo c = describe(*target);
  std::ostringstream out;
  for (const auto& o : c.options) {
    out << ".TP\n";
    std::vector<std::string> names;
    for (const auto& s : o.shorts) names.push_back("\\fB\\-" + roff_escape(s) + "\\fR");
    for (const auto& l : o.longs) names.push_back("\\fB\\-\\-" + roff_escape(l) + "\\fR");
    out << join(names, ", ");
    if (o.kind != ValueKind::none) out << " \\fI" << roff_escape(o.type_name.empty() ? "VALUE" : o.type_name) << "\\fR";
    std::string desc = o.full_description;
    if (!desc.empty() && desc.back() != '.') desc += '.';
    out << "\n" << roff_escape(desc) << "\n";
  }
  return out.str();
}

std::string generate_man_commands(const CLI::App& app) {
  std::ostringstream out;
  for (const CLI::App* s : visible_subcommands(app)) {
    std::string desc = s->get_description();
    if (!desc.empty() && desc.back() != '.') desc += '.';
    out << ".TP\n.B " << roff_escape(s->get_name()) << "\n" << roff_escape(desc) << "\n";
  }
  return out.str();
}

std::shared_ptr<CLI::FormatterBase> help_formatter() { return std::make_shared<HelpFormatter>(); }

std::string nearest_word(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = 0;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  // A typo changes a few letters, not most of the word ("fetc", "reslove").
  const std::size_t allowed = std::max<std::size_t>(1, std::min(word.size(), best.size()) / 3);
  return best_distance <= allowed ? best : std::string();
}

std::string plain_parse_error(const CLI::App& app, const std::string& message) {
  std::smatch m;
  static const std::regex out_of_range(R"(^(\S+): Value (.*) not in range (\S+) to (\S+)$)");
  static const std::regex not_member(R"(^(\S+): (.*) not in \{(.*)\}$)");
  static const std::regex missing(R"(^(\S+): \d+ required (.*) missing$)");
  static const std::regex too_many(R"(^(\S+): At Most (\d+) required but received (\d+)$)");
  static const std::regex unexpected(R"(^The following arguments? (?:was|were) not expected: (.*)$)");
  static const std::regex excludes(R"(^(\S+) excludes (\S+)$)");
  static const std::regex no_convert(R"(^Could not convert: (\S+) = (.*)$)");
  if (std::regex_match(message, m, out_of_range)) {
    // The option's own range: the message's bounds are printed with %f
    // ("0.000000" for the smallest positive double, 309 digits for the largest).
    const CLI::Option* o = app.get_option_no_throw(m.str(1));
    const ValueNotes notes = o ? value_notes(o) : ValueNotes{};
    std::string words = notes.range;
    if (words.empty()) words = range_words(m[3], m[4]);
    if (words.find(" to ") != std::string::npos) words = "from " + words;
    if (words.starts_with("at least")) words = "of " + words;
    const std::string value = m.str(2);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    const bool number =
        !value.empty() && *end == '\0' && (!notes.whole || value.find_first_of(".eE") == std::string::npos);
    const std::string kind = notes.whole ? "whole number" : "number";
    return m.str(1) + ": '" + value + (number ? "' is out of range" : "' is not a " + kind) + " (want a " + kind + " " +
           words + ")";
  }
  if (std::regex_match(message, m, excludes)) return m.str(1) + " and " + m.str(2) + " cannot be used together";
  if (std::regex_match(message, m, not_member)) {
    std::string msg = m.str(1) + ": '" + m.str(2) + "' is not one of " + m.str(3);
    std::vector<std::string> choices = split(m.str(3), ',');
    if (const std::string near = nearest_word(m.str(2), choices); !near.empty())
      msg += " (did you mean '" + near + "'?)";
    return std::regex_replace(msg, std::regex(","), ", ");
  }
  if (std::regex_match(message, m, missing)) {
    const CLI::Option* o = app.get_option_no_throw(m.str(1));
    return m.str(1) + " needs " + (o ? value_notes(o).type : m.str(2)) + " after it";
  }
  if (std::regex_match(message, m, too_many))
    return m.str(1) + " takes " + (m.str(2) == "1" ? std::string("one value") : m.str(2) + " values") + ", got " +
           m.str(3) + " (give it once)";
  if (std::regex_match(message, m, unexpected)) {
    std::vector<std::string> words = split(m.str(1), ' ');
    std::reverse(words.begin(), words.end());  // CLI11 lists them last first
    if (words.size() == 1 && words[0].starts_with("-")) {
      std::string msg = "unknown option '" + words[0] + "'";
      const std::string flag = words[0].substr(0, words[0].find('='));
      if (const std::string near = nearest_word(flag, option_names(app)); !near.empty())
        msg += " (did you mean '" + near + "'?)";
      return msg;
    }
    return std::string(words.size() == 1 ? "unexpected argument " : "unexpected arguments ") + quoted_list(words);
  }
  if (std::regex_match(message, m, no_convert)) {
    const CLI::Option* o = app.get_option_no_throw(m.str(1));
    if (o && o->get_expected_max() == 0)
      return m.str(1) + " takes no value (got '" + printable(m.str(1) + "=" + m.str(2)) + "')";
    return m.str(1) + ": '" + m.str(2) + "' is not a valid value";
  }
  return message;
}

std::string flag_with_value(const CLI::App& app, const std::vector<std::string>& args) {
  bool value_next = false;  // the argument before was an option that takes this one
  for (const std::string& a : args) {
    if (a == "--") break;
    if (std::exchange(value_next, false) || a.size() < 2 || a[0] != '-') continue;
    const std::size_t eq = a.find('=');
    const CLI::Option* o = app.get_option_no_throw(a.substr(0, a[1] == '-' ? eq : 2));
    if (!o) continue;
    if (o->get_expected_max() > 0) {
      value_next = eq == std::string::npos && (a[1] == '-' || a.size() == 2);
    } else if (a[1] != '-' && eq == 2) {
      return a.substr(0, 2) + " takes no value (got '" + printable(a) + "')";
    }
  }
  return {};
}

}  // namespace green::tools
