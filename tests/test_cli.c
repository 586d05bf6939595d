// test_cli.c: the `bigs` executable's dispatch and usage texts.
#include <string.h>

#include "core/engine/gemm.h"
#include "tests/test.h"

TEST(cli_help_lists_every_command) {
    char out[8192], cmd[512];
    snprintf(cmd, sizeof cmd, "%s --help", test_bigs_bin());
    CHECK_EQ_INT(test_run(cmd, out, sizeof out), 0);
    const char *names[] = {"prepare", "tokenize", "pretrain", "finetune", "eval", "predict", "convert", "info"};
    for (int i = 0; i < 8; i++) CHECKF(strstr(out, names[i]) != NULL, "--help does not list %s", names[i]);
    CHECK(strstr(out, "Usage:") && strstr(out, "Example:"));
}

TEST(cli_unknown_command_is_a_usage_error) {
    char out[8192], cmd[512];
    snprintf(cmd, sizeof cmd, "%s frobnicate", test_bigs_bin());
    CHECK_EQ_INT(test_run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "unknown command 'frobnicate'") != NULL);
    snprintf(cmd, sizeof cmd, "%s", test_bigs_bin());
    CHECK_EQ_INT(test_run(cmd, out, sizeof out), 2);
    CHECK(strstr(out, "Usage:") != NULL);
}

// --version names the build's MPI, the GEMM engine and the bf16 kernel; BIGS_GEMM=openblas selects OpenBLAS
TEST(cli_version_names_the_gemm_engine) {
    char cmd[4200], log[1024];
    snprintf(cmd, sizeof cmd, "%s --version", test_bigs_bin());
    CHECK(test_run(cmd, log, sizeof log) == 0 && strstr(log, "bigs ") && (strstr(log, "GEMM: avx512") || strstr(log, "GEMM: avx2") || strstr(log, "GEMM: openblas")));
    snprintf(cmd, sizeof cmd, "BIGS_GEMM=openblas %s --version", test_bigs_bin());
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "GEMM: openblas"), "%s", log);
    // and the bf16 kernel: BIGS_BF16_KERNEL=avx512bf16 chooses vdpbf16ps over AMX's tiles
    snprintf(cmd, sizeof cmd, "BIGS_BF16_KERNEL=avx512bf16 %s --version", test_bigs_bin());
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, gemm_bf16_available() ? "bf16: avx512bf16)" : "bf16: none)"), "%s", log);
    snprintf(cmd, sizeof cmd, "%s --version", test_bigs_bin());
    const char *want = !gemm_bf16_available() ? "bf16: none)" : gemm_bf16_amx_available() ? "bf16: amx)" : "bf16: avx512bf16)";
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, want), "%s (want %s)", log, want);
}

// OpenMP waits passively unless the environment chooses: set before libgomp reads it (the preinit array,
// no re-execution, so valgrind and debuggers run the program itself)
TEST(cli_openmp_waits_passively_unless_told) {
    char cmd[4200], log[8192];
    snprintf(cmd, sizeof cmd, "env -u OMP_WAIT_POLICY OMP_DISPLAY_ENV=true %s --version", test_bigs_bin());
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "OMP_WAIT_POLICY = 'PASSIVE'"), "%s", log);
    snprintf(cmd, sizeof cmd, "OMP_WAIT_POLICY=active OMP_DISPLAY_ENV=true %s --version", test_bigs_bin());
    CHECKF(test_run(cmd, log, sizeof log) == 0 && strstr(log, "OMP_WAIT_POLICY = 'ACTIVE'"), "%s", log);
}
