/* Many small objects: builds a tree of N nodes of 24 to 64 bytes (a node per insertion into
 * an unbalanced binary search tree over pseudo-random keys), walks it, frees it, and does so
 * ROUNDS times. Usage: small N ROUNDS. Prints a checksum. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct node {
    uint64_t key;
    struct node *l, *r;
    char pad[];
};

static uint64_t walk_free(struct node *n) {
    uint64_t s = 0;
    struct node *stack[128];
    int top = 0;
    while (n || top) {
        while (n) {
            stack[top++] = n;
            n = n->l;
        }
        n = stack[--top];
        s = s * 31 + n->key;
        struct node *r = n->r;
        free(n);
        n = r;
    }
    return s;
}

int main(int argc, char **argv) {
    long count = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    uint64_t total = 0, x = 88172645463325252ull;
    for (int r = 0; r < rounds; r++) {
        struct node *root = NULL;
        for (long i = 0; i < count; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            struct node *n = malloc(sizeof(struct node) + (x >> 60) * 3);
            n->key = x;
            n->l = n->r = NULL;
            struct node **at = &root;
            int depth = 0;
            while (*at && depth < 120) {
                at = x < (*at)->key ? &(*at)->l : &(*at)->r;
                depth++;
            }
            if (*at) {
                free(n);
                continue;
            }
            *at = n;
        }
        total += walk_free(root);
    }
    printf("%llu\n", (unsigned long long)total);
    return 0;
}
