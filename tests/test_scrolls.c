// test_scrolls.c: SQuAD normalisation against Python's (the expected strings were computed with the
// SQuAD normalize_answer), exact match over several golds, and the SCROLLS readers.
#include <string.h>
#include <sys/stat.h>

#include "core/common.h"
#include "data/scrolls.h"
#include "tests/test.h"

TEST(scrolls_normalisation_matches_squad) {
    const char *cases[][2] = {
        {"The Cat", "cat"},
        {"  a  man,  an apple and THE end. ", "man apple and end"},
        {"theater an-tenna a.m.", "theater antenna am"},
        {"Not mentioned", "not mentioned"},
        {"\xC3\x85ngstr\xC3\xB6m\xE2\x80\x99s \xE2\x80\x94 the\xE2\x80\x94" "end", "\xC3\xA5ngstr\xC3\xB6m\xE2\x80\x99s \xE2\x80\x94 \xE2\x80\x94" "end"},
        {"THE", ""},
        {"anthem of a nation", "anthem of nation"},
        {"the_the a_b", "thethe ab"},
        {"\xC3\x89lan vital: an \xC3\x89LAN!", "\xC3\xA9lan vital \xC3\xA9lan"},
        {"tab\there\nnew line", "tab here new line"},
        {"", ""},
        {"...", ""},
        {"a", ""},
        {"x the y\xC2\xA0the z", "x y z"},
        {"caf\xC3\xA9 THE Caf\xC3\xA9", "caf\xC3\xA9 caf\xC3\xA9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = scrolls_normalize(cases[i][0]);
        CHECKF(!strcmp(got, cases[i][1]), "normalize(\"%s\") = \"%s\", expected \"%s\"", cases[i][0], got, cases[i][1]);
        free(got);
    }
    char *golds[] = {"The Entailment", "not mentioned!"};
    CHECK(scrolls_exact_match("entailment", golds, 2) == 100.0);
    CHECK(scrolls_exact_match("Not  Mentioned", golds, 2) == 100.0);
    CHECK(scrolls_exact_match("contradiction", golds, 2) == 0.0);
    CHECK(scrolls_exact_match("x", golds, 0) == 0.0);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

TEST(scrolls_readers) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/cnli.jsonl", test_tmpdir());
    write_file(path,
               "{\"id\": \"c1\", \"pid\": \"c1_0\", \"input\": \"Some obligations survive.\\n\\nThe contract text. It is long.\", \"output\": \"Entailment\"}\n"
               "{\"id\": \"c2\", \"pid\": \"c2_0\", \"input\": \"No sharing.\\n\\nAnother contract.\", \"output\": \"Not mentioned\"}\n"
               "{\"id\": \"c2\", \"pid\": \"c2_1\", \"input\": \"No sharing.\\n\\nAnother contract.\", \"output\": \"Contradiction\"}\n");
    ScrollsSet s;
    CHECKF(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.n == 2 && !strcmp(s.ex[0].query, "Some obligations survive.") && !strcmp(s.ex[0].doc, "The contract text. It is long."));
    CHECK(s.ex[0].label == 0 && s.ex[1].label == 2 && s.ex[1].ngold == 2 && !strcmp(s.ex[1].golds[1], "Contradiction"));
    scrolls_free(&s);
    snprintf(path, sizeof path, "%s/quality.jsonl", test_tmpdir());
    write_file(path,
               "{\"id\": \"q1\", \"pid\": \"q1_0\", \"input\": \"Why did  she leave?\\n\\n(A) To find work\\n(B)  Because of the war \\n(C) She did not\\n(D) For love\\n\\nTHE ARTICLE\\n\\nIt was a dark night.\", \"output\": \"Because of the war\"}\n"
               "{\"id\": \"q2\", \"pid\": \"q2_0\", \"input\": \"Who?\\n\\n(A) Ann (B) Bob (C) Cy (D) Di\\n\\nText.\", \"output\": \"\"}\n");
    CHECKF(scrolls_read(SCROLLS_QUALITY, path, &s, err, sizeof err) == 0, "%s", err);
    CHECK(s.n == 2 && !strcmp(s.ex[0].query, "Why did she leave?") && !strcmp(s.ex[0].options[1], "Because of the war"));
    CHECK(!strcmp(s.ex[0].options[3], "For love") && !strcmp(s.ex[0].doc, "THE ARTICLE\n\nIt was a dark night.") && s.ex[0].label == 1);
    CHECK(!strcmp(s.ex[1].options[0], "Ann") && !strcmp(s.ex[1].options[3], "Di") && s.ex[1].label == -1 && s.ex[1].ngold == 0);
    scrolls_free(&s);
    // bad inputs name the line
    write_file(path, "{\"id\": \"q1\", \"input\": \"no options here\", \"output\": \"x\"}\n");
    CHECK(scrolls_read(SCROLLS_QUALITY, path, &s, err, sizeof err) == -1 && strstr(err, "quality.jsonl:1:"));
    write_file(path, "{\"id\": \"c1\", \"input\": \"h\\n\\nc\", \"output\": \"Maybe\"}\n");
    CHECK(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == -1 && strstr(err, "none of the labels"));
    write_file(path, "not json\n");
    CHECK(scrolls_read(SCROLLS_CONTRACT_NLI, path, &s, err, sizeof err) == -1 && strstr(err, ":1: expected a JSON object"));
}
