// The shape of a subcommand: main.cc's command table lists them, and the
// table alone generates `cfs help`.
#pragma once

#include <functional>
#include <string_view>

#include <CLI/CLI.hpp>

namespace cfs::cmd {

// Declares a subcommand's options on `app` and returns what runs it; the
// runner returns the process exit code (0 ok, 1 the check failed, 2 error).
using Setup = std::function<std::function<int()>(CLI::App* app)>;

struct Command {
  std::string_view name;     // "blockgroup inspect": words are nested subcommands
  std::string_view summary;  // one line for `cfs help`
  Setup setup;
};

// Runs the command line against a table. Handles `help`, `help CMD...`,
// `CMD --help` and `--version`.
int Run(int argc, char** argv, const std::vector<Command>& table);

}  // namespace cfs::cmd
