#include "common/strings.h"
#include "cmd/command.h"

#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "common/logging.h"

namespace cfs::cmd {
namespace {

constexpr std::string_view kVersion = "0.1.0";

std::vector<std::string> Words(std::string_view name) {
  std::vector<std::string> words;
  std::istringstream in{std::string(name)};
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

void PrintTable(const std::vector<Command>& table) {
  std::cout << "cfs: ContainerFS, a distributed file system\n\n"
               "usage: cfs COMMAND [ARGS]...   (cfs help COMMAND, or cfs COMMAND --help, for its usage)\n\n"
               "commands:\n";
  size_t width = 4;
  for (const auto& c : table) width = std::max(width, c.name.size());
  std::cout << fmt::format("  {:<{}}  {}\n", "help", width, "list the commands, or show one's usage");
  for (const auto& c : table) std::cout << fmt::format("  {:<{}}  {}\n", c.name, width, c.summary);
}

}  // namespace

int Run(int argc, char** argv, const std::vector<Command>& table) {
  CLI::App app{"ContainerFS, a distributed file system", "cfs"};
  app.set_version_flag("--version", std::string(kVersion));
  app.require_subcommand(0, 1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")->capture_default_str();

  std::map<const CLI::App*, std::function<int()>> runners;
  for (const auto& c : table) {
    CLI::App* parent = &app;
    for (const auto& w : Words(c.name)) {
      CLI::App* sub = nullptr;
      try {
        sub = parent->get_subcommand(w);
      } catch (const CLI::OptionNotFound&) {
        sub = parent->add_subcommand(w, std::string(c.summary));
        sub->require_subcommand(0, 1);
        sub->fallthrough();  // --log-level may come after the subcommand too
      }
      parent = sub;
    }
    parent->description(std::string(c.summary));
    parent->require_subcommand(0, 0);
    runners[parent] = c.setup(parent);
  }

  std::vector<std::string> help_words;
  CLI::App* help = app.add_subcommand("help", "list the commands, or show one's usage");
  help->add_option("command", help_words, "the command to explain");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version print and exit 0; every usage error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  InitLogging(log_level);

  if (app.get_subcommands().empty() || help->parsed()) {
    if (help_words.empty()) {
      PrintTable(table);
      return 0;
    }
    CLI::App* target = &app;
    for (const auto& w : help_words) {
      try {
        target = target->get_subcommand(w);
      } catch (const CLI::OptionNotFound&) {
        std::cerr << fmt::format("cfs: no command {}; `cfs help` lists them\n", Quoted(w));
        return 2;
      }
    }
    std::cout << target->help();
    return 0;
  }

  // The deepest parsed subcommand runs.
  CLI::App* chosen = app.get_subcommands().front();
  while (!chosen->get_subcommands().empty()) chosen = chosen->get_subcommands().front();
  auto it = runners.find(chosen);
  if (it == runners.end()) {
    std::cout << chosen->help();
    return 2;
  }
  return it->second();
}

}  // namespace cfs::cmd
