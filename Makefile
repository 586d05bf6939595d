# bigs: build, test, benchmark.  `make help` lists the targets.
CC      ?= cc
OPT     ?= -O2 -march=native -fvect-cost-model=dynamic
# -fno-trapping-math lets the compiler vectorise branch-free clamps and selects (we never rely on
# floating-point exceptions), -fno-math-errno lets it vectorise sqrtf (AdamW; we never read errno after
# a math function); NaN and Inf keep their meaning (no -ffast-math, no -Ofast).
CFLAGS  ?= $(OPT) -g -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration -Wno-format-truncation -fno-trapping-math -fno-math-errno -fopenmp -D_GNU_SOURCE
LDLIBS  := -lopenblas -lfftw3f -lcjson -lz -lm -fopenmp
BUILD   ?= build
# Open MPI for multi-process training: on when mpicc is installed (make MPI=0 to build without)
MPI     ?= $(if $(shell command -v mpicc 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := -DBIGS_MPI $(shell mpicc --showme:compile)
MPI_LIBS   := $(shell mpicc --showme:link)
endif
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# the layers, bottom up (docs/internals.md): core/base, core/engine, core/formats, core/model and data, train, cmd
LIB_SRC  := $(wildcard core/*/*.c train/*.c data/*.c cmd/cmd_*.c cmd/args.c)
HEADERS  := $(wildcard core/*/*.h train/*.h data/*.h cmd/*.h)
TEST_SRC := $(wildcard tests/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all test debug test-debug deps demo-bf16 bench bench-ops bench-scaling clean help demo fuzz fuzz-build fault-inject soak valgrind valgrind-build
all: $(BUILD)/bigs $(BUILD)/test_bigs

help:
	@echo "make [all]      build build/bigs and build/test_bigs"
	@echo "make test       build and run the test suite (last line: N passed, N failed)"
	@echo "make debug      the same binaries with ASan+UBSan in build-debug/"
	@echo "make test-debug run the suite under the sanitizers"
	@echo "make deps       install the Debian packages bigs needs (apt-get; MPI=1 adds Open MPI)"
	@echo "make MPI=0|1    build without/with Open MPI (default: with, when mpicc is installed)"
	@echo "make bench      bigs against PyTorch: sgemm peaks, tokens/s, FLOP utilisation, memory (build/bench.json)"
	@echo "make bench-ops  op micro-benchmark (sgemm peaks, linear, SSM convolution) and activation memory vs L"
	@echo "make bench-scaling  time and memory against L (512..16384), BiGS vs BERT, and a PNG plot"
	@echo "make demo       install, build, fetch real text, pretrain a small BiGS, evaluate, plot"
	@echo "make demo-bf16  the demo's pretraining and finetuning in float32 and bf16, compared on one plot"
	@echo "make fuzz-build the libFuzzer harnesses of tests/fuzz/ (clang, ASan+UBSan) in build-fuzz/"
	@echo "make fuzz       run each harness FUZZ_TIME seconds (default 60); non-zero exit on a finding"
	@echo "make fault-inject  kill -9 at KILLS random moments (default 20) and in as many loop phases (PHASE_KILLS), full disk, corrupt shard, NaN"
	@echo "make soak       scripts/soak.sh: 20,000 steps with a resume, RSS, fds, checkpoints and folder size sampled (about 15 min)"
	@echo "make valgrind   build build-valgrind/bigs and run scripts/valgrind.sh (memcheck, leaks)"
	@echo "make clean      remove build outputs"

# objects are rebuilt when MPI is switched on or off
$(BUILD)/.mpi-$(MPI):
	@mkdir -p $(BUILD) && rm -f $(BUILD)/.mpi-* && touch $@

$(BUILD)/%.o: %.c $(HEADERS) $(wildcard tests/*.h tests/golden/*.inc) $(BUILD)/.mpi-$(MPI)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -I. -c $< -o $@

$(BUILD)/bigs: $(BUILD)/cmd/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/test_bigs: $(TEST_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

$(BUILD)/bench_%: $(BUILD)/scripts/bench_%.o $(LIB_OBJ)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) $(MPI_LIBS)

test: $(BUILD)/bigs $(BUILD)/test_bigs
	BIGS_EXPECT_MPI=$(MPI) BIGS=$(BUILD)/bigs $(BUILD)/test_bigs

debug:
	$(MAKE) BUILD=build-debug CFLAGS="-O1 -g -std=c11 -Wall -Wextra -Wno-unused-parameter -Werror=implicit-function-declaration -Wno-format-truncation -fno-trapping-math -fno-math-errno -fopenmp -D_GNU_SOURCE $(SAN)" LDLIBS="$(LDLIBS) $(SAN)" all

# LeakSanitizer is off: libgomp and OpenBLAS keep thread pools alive at exit by design.
test-debug: debug
	ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 BIGS_EXPECT_MPI=$(MPI) BIGS=build-debug/bigs build-debug/test_bigs

# bigs against PyTorch (python3-torch) side by side: sgemm peaks, training and inference tokens/s, model
# FLOP utilisation, peak memory, MPI layouts; a table and build/bench.json (BENCH_ARGS="--reps 5", ...)
bench: $(BUILD)/bigs $(BUILD)/bench_train $(BUILD)/bench_gemm
	/usr/bin/python3 scripts/bench.py $(BENCH_ARGS)

bench-ops: $(BUILD)/bench_ops $(BUILD)/bench_scaling
	$(BUILD)/bench_ops
	$(BUILD)/bench_scaling - 128 1024 4096

# time per token and memory from L=512 to 16384, BiGS vs BERT, with a PNG plot (gnuplot)
bench-scaling: $(BUILD)/bench_scaling
	$(BUILD)/bench_scaling $(BUILD)/scaling.jsonl
	scripts/plot_scaling.sh $(BUILD)/scaling.jsonl $(BUILD)/scaling.png

deps:
	@scripts/install_deps.sh$(if $(filter 1,$(MPI)), openmpi-bin libopenmpi-dev)

demo:
	scripts/demo.sh

# the demo's pretraining and finetuning in float32 and in bf16, compared, with both loss curves on one plot
demo-bf16:
	scripts/demo_bf16.sh

# ---- fuzzing: one libFuzzer harness per parser (tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME),
# built by clang with ASan+UBSan.
FUZZ_CC     ?= clang
FUZZ_TIME   ?= 60
FUZZ_DIR    := build-fuzz
FUZZ_CFLAGS := -g -O1 -std=c11 -Wall -Wextra -Wno-unused-parameter -Wno-pass-failed -fopenmp -D_GNU_SOURCE \
               -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
# the whole library below the commands (the config parser calls the mixer rows' validation), OpenMP
# from clang's libomp (Debian's libomp-dev)
FUZZ_LIB    := $(filter-out cmd/%,$(LIB_SRC))
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_DIR)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I. -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB:%.c=$(FUZZ_DIR)/%.o)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -I. $< $(FUZZ_LIB:%.c=$(FUZZ_DIR)/%.o) -o $@ -lopenblas -lfftw3f -lcjson -lz -lm

.SECONDARY: $(FUZZ_LIB:%.c=$(FUZZ_DIR)/%.o)  # keep the objects between builds
fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

fuzz: fuzz-build
	FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run.sh $(FUZZ_NAMES)

# ---- fault injection and valgrind (README: Fault injection and valgrind)
KILLS ?= 20
# PHASE_KILLS: kills in chosen phases of the loop (the script's default: KILLS rounded up to a multiple of 5)
fault-inject: $(BUILD)/bigs
	KILLS=$(KILLS) $(if $(PHASE_KILLS),PHASE_KILLS=$(PHASE_KILLS)) BIGS=$(BUILD)/bigs nice -n 10 scripts/fault_inject.sh

# not in make test nor CI: it runs for about a quarter of an hour (docs/testing.md: Soak test)
soak: $(BUILD)/bigs
	BIGS=$(BUILD)/bigs nice -n 10 scripts/soak.sh

# valgrind 3.19 cannot decode AVX-512, which -march=native emits on such a machine: this copy is built for
# AVX2 (when the CPU has it) and without MPI, in its own folder
VALGRIND_OPT := -O1 $(if $(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo y),-mavx2 -mfma)
valgrind-build:
	$(MAKE) BUILD=build-valgrind OPT="$(VALGRIND_OPT)" MPI=0 build-valgrind/bigs

valgrind: valgrind-build
	BIGS=build-valgrind/bigs nice -n 10 scripts/valgrind.sh

clean:
	rm -rf build build-debug build-fuzz build-valgrind
