// Every subcommand's setup, one file each under cmd/; main.cc lists them.
#pragma once

#include "cmd/command.h"

namespace cfs::cmd {

std::function<int()> SetupBlockGroupInspect(CLI::App* app);
std::function<int()> SetupBlockGroupFix(CLI::App* app);
std::function<int()> SetupMaster(CLI::App* app);
std::function<int()> SetupDatanode(CLI::App* app);
std::function<int()> SetupMetanode(CLI::App* app);
std::function<int()> SetupVolumeCreate(CLI::App* app);
std::function<int()> SetupVolumeList(CLI::App* app);
std::function<int()> SetupVolumeInfo(CLI::App* app);
std::function<int()> SetupBenchMeta(CLI::App* app);
std::function<int()> SetupMetaLs(CLI::App* app);
std::function<int()> SetupMetaStat(CLI::App* app);
std::function<int()> SetupMetaMkdir(CLI::App* app);
std::function<int()> SetupMetaTouch(CLI::App* app);
std::function<int()> SetupMetaRm(CLI::App* app);
std::function<int()> SetupMetaMv(CLI::App* app);
std::function<int()> SetupMetaAttach(CLI::App* app);
std::function<int()> SetupBlobPut(CLI::App* app);
std::function<int()> SetupBlobGet(CLI::App* app);
std::function<int()> SetupBlobRm(CLI::App* app);
std::function<int()> SetupBlobAssign(CLI::App* app);
std::function<int()> SetupClusterStatus(CLI::App* app);
std::function<int()> SetupBenchBlob(CLI::App* app);
std::function<int()> SetupMount(CLI::App* app);
std::function<int()> SetupServer(CLI::App* app);

}  // namespace cfs::cmd
