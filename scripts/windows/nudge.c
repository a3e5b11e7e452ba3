/* Test-only: another program's input, as the Windows suite needs it. Sends one pointer move
 * through SendInput with no mark (dwExtraInfo 0), as a remote-control tool or another agent's
 * driver would. Baton must take it for the person's and pause its holder; its own input, marked,
 * must not. Built by scripts/test-windows.sh into target/wine, never shipped. */
#include <windows.h>
#include <stdio.h>

int main(void) {
    INPUT input = {0};
    input.type = INPUT_MOUSE;
    input.mi.dx = 7;
    input.mi.dy = 3;
    input.mi.dwFlags = MOUSEEVENTF_MOVE;
    input.mi.dwExtraInfo = 0;
    if (SendInput(1, &input, sizeof(INPUT)) != 1) {
        fprintf(stderr, "nudge: SendInput failed: %lu\n", GetLastError());
        return 1;
    }
    return 0;
}
