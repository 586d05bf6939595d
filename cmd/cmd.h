// cmd.h: the subcommands. Each returns the process exit status.
#pragma once

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);  // NULL: not built yet
    const char *summary;
} Command;

extern const Command g_commands[];

int cmd_info(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);  // cmd_tokenize.c
int cmd_prepare(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_finetune(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_vocab(int argc, char **argv);           // cmd_vocab.c
int cmd_vocab_info(const char *path, int json);  // `bigs info vocab.txt` (cmd_vocab.c)
