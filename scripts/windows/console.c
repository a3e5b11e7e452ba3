/* Test-only: a person at a console, as the Windows suite needs one. Wine starts a program
 * from a pipe without a console, so Ctrl+C and Ctrl+Break have nowhere to come from; this
 * gives COMMAND_LINE a console of its own, runs it there, and once the file GO exists presses
 * Ctrl+C (`c`) or Ctrl+Break (`break`) in that console. The command's
 * output goes where this program's goes, its input is the console's. Exits with the
 * command's exit code; 3 when a step fails, 4 when the command outlives the key by 30 s.
 * Built by scripts/test-windows.sh into target/wine, never shipped. */
#include <windows.h>
#include <stdio.h>
#include <string.h>

/* Pressing the key in the console reaches this program too: it stays to report. */
static BOOL WINAPI stay(DWORD event) {
    (void)event;
    return TRUE;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: console.exe c|break GO COMMAND_LINE\n");
        return 2;
    }
    const char *key = argv[1];
    /* The command writes where this program was told to, so the suite reads its output. */
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE), err = GetStdHandle(STD_ERROR_HANDLE);
    SetHandleInformation(out, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    SetHandleInformation(err, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    FreeConsole();
    if (!AllocConsole()) {
        fprintf(stderr, "console: AllocConsole failed: %lu\n", GetLastError());
        return 3;
    }
    SetConsoleCtrlHandler(stay, TRUE);
    STARTUPINFOA si = {0};
    si.cb = sizeof(si);
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = out;
    si.hStdError = err;
    PROCESS_INFORMATION pi = {0};
    if (!CreateProcessA(NULL, argv[3], NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
        fprintf(stderr, "console: CreateProcess failed: %lu\n", GetLastError());
        return 3;
    }
    DWORD event = strcmp(key, "break") == 0 ? CTRL_BREAK_EVENT : CTRL_C_EVENT;
    while (GetFileAttributesA(argv[2]) == INVALID_FILE_ATTRIBUTES) {
        if (WaitForSingleObject(pi.hProcess, 100) == WAIT_OBJECT_0) {
            fprintf(stderr, "console: the command ended before the key was pressed\n");
            return 3;
        }
    }
    if (!GenerateConsoleCtrlEvent(event, 0)) {
        fprintf(stderr, "console: GenerateConsoleCtrlEvent failed: %lu\n", GetLastError());
        TerminateProcess(pi.hProcess, 99);
        return 3;
    }
    if (WaitForSingleObject(pi.hProcess, 30000) != WAIT_OBJECT_0) {
        fprintf(stderr, "console: the command did not end 30 s after the key\n");
        TerminateProcess(pi.hProcess, 99);
        return 4;
    }
    DWORD code = 0;
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
