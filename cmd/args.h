// args.h: a small command-line flag parser for the subcommands.
// Flags are "--name VALUE" or "--name=VALUE"; booleans are "--name". Unknown flags are usage errors.
#pragma once

typedef struct {
    const char *usage;  // printed on --help (stdout, exit 0) and on usage errors (stderr, exit 2)
    int argc;
    char **argv;
    char *used;         // per argv entry: consumed?
} Args;

void args_init(Args *a, int argc, char **argv, const char *usage);
const char *args_str(Args *a, const char *flag, const char *def);   // last occurrence wins
long args_int(Args *a, const char *flag, long def);
double args_double(Args *a, const char *flag, double def);
int args_flag(Args *a, const char *flag);                           // present?
int args_multi(Args *a, const char *flag, const char **out, int max); // every value of a repeated flag
const char *args_positional(Args *a);                               // next unconsumed non-flag argument
_Noreturn void args_usage_error(Args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void args_done(Args *a);  // every argument must have been consumed
// Common options every subcommand accepts: --threads N, --quiet. Applies them.
void args_common(Args *a);
