"""A TCP proxy a test can cut and restore: the database "goes away" for the service under test
(connections reset, new ones refused) and comes back on the same port."""

from __future__ import annotations

import socket
import threading

from smtp_server import free_port


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> Proxy:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and reset every open one."""
        with self.lock:
            if self.listener:
                try:
                    self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
                except OSError:
                    pass
                self.listener.close()
                self.listener = None
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                if self.listener is not listener:  # cut while this one was being accepted
                    client.close()
                    upstream.close()
                    return
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
