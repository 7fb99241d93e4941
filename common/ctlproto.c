/* ctlproto.c: the control socket's line protocol, shared by musterd's ctl.sock and `muster ctl`. */
#include "ctlproto.h"

int ctlproto_split(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;

	for (char *q = line; *q != '\0'; q++) {
		unsigned char ch = (unsigned char)*q;

		if (ch == '\r' && q[1] == '\0') /* telnet and socat CRLF */
			*q = '\0';
		else if (ch != ' ' && ch != '\t' && (ch < 0x21 || ch > 0x7e))
			return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return n;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}
