/* fuzz_ctl.c: fuzz target for the control socket's line splitting (ctlproto). */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Each input is cut into lines as musterd reads them (at most
 * CTLPROTO_LINE_MAX bytes); every line split must keep its invariants. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0;

	while (start < size) {
		char line[CTLPROTO_LINE_MAX + 1], *words[CTLPROTO_WORDS_MAX];
		size_t len = 0;
		int n;

		while (start + len < size && len < CTLPROTO_LINE_MAX && data[start + len] != '\n')
			len++;
		memcpy(line, data + start, len);
		line[len] = '\0';
		start += len + 1;
		n = ctlproto_split(line, words, CTLPROTO_WORDS_MAX);
		assert(n >= -1 && n <= CTLPROTO_WORDS_MAX);
		for (int i = 0; i < n; i++) {
			assert(words[i][0] != '\0');
			assert(strpbrk(words[i], " \t") == NULL);
			assert(words[i] >= line && words[i] < line + sizeof(line));
		}
	}
	return 0;
}
