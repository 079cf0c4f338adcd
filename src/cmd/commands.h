// Every subcommand's setup, one file each under cmd/; main.cc lists them.
#pragma once

#include "cmd/command.h"

namespace cfs::cmd {

std::function<int()> SetupBlockGroupInspect(CLI::App* app);
std::function<int()> SetupBlockGroupFix(CLI::App* app);

}  // namespace cfs::cmd
