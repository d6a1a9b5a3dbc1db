"""The Parent guide, as one runnable script.

``Jobs`` is a parent that runs each job in its own child process, with a deadline
(``timeout``), bookkeeping in the child's ``meta``, and one reply per job sent from
``handle_child_terminated``. ``Pipeline`` shows ``await_child_termination`` and the order
in which a parent stops its children.

Run it with ``python examples/guide_parent.py``.
"""

from __future__ import annotations

import time
from typing import Any

import parent
from parent import From, GenServer, Pid, Task, gen_server, process


# --8<-- [start:jobs]
def work(jobs: Pid, job_id: str, steps: int) -> None:
    """The body of one job: ``steps`` small steps, then the result goes to the parent."""
    total = 0
    for step in range(steps):
        time.sleep(0.01)  # short sleeps: a kill lands between two of them
        total += step
    process.send(jobs, ("result", job_id, total))


class Jobs(parent.Parent):
    """Runs jobs as children; a job that outlives its deadline is killed."""

    def init(self) -> None:
        self.finished: list[str] = []

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("run", job_id, steps, deadline):
                me = process.current()
                self.start_child(
                    {
                        "id": job_id,
                        "start": (Task.start_link, [work, me, job_id, steps]),
                        "meta": {"caller": from_},  # who to answer when the job ends
                        "timeout": deadline,  # killed, reason "timeout", if still running
                    }
                )
                return parent.NoReply  # the reply is sent when the job ends
            case "running":
                return [id for id, _pid, _meta in self.children()]
            case "finished":
                return self.finished
            case _:
                raise ValueError(request)

    def handle_info(self, message: Any) -> None:
        match message:
            case ("result", job_id, total) if self.is_child(job_id):
                self.update_child_meta(job_id, lambda meta: {**meta, "result": total})

    def handle_child_terminated(self, id: Any, meta: Any, pid: Pid, reason: Any) -> None:
        self.finished.append(id)
        if reason == "normal":
            gen_server.reply(meta["caller"], ("ok", meta["result"]))
        else:  # "timeout" when the deadline killed it, or the exception of a crash
            gen_server.reply(meta["caller"], ("error", reason))

    @classmethod
    def run(cls, jobs: parent.Server, job_id: str, steps: int, deadline: float) -> Any:
        return gen_server.call(jobs, ("run", job_id, steps, deadline))


# --8<-- [end:jobs]


def run_jobs() -> None:
    # --8<-- [start:run_jobs]
    jobs = Jobs.start_link(name="jobs")
    print("quick job ->", Jobs.run("jobs", "quick", 5, 1.0))
    print("slow job ->", Jobs.run("jobs", "slow", 1000, 0.1))
    print("finished:", gen_server.call(jobs, "finished"))
    gen_server.stop(jobs)
    # --8<-- [end:run_jobs]


# --8<-- [start:pipeline]
class Stage(GenServer):
    """A child that says when it stops, to show the shutdown order."""

    def init(self, name: str) -> None:
        process.trap_exits(True)  # so terminate runs on the parent's exit signal
        self.name = name

    def terminate(self, reason: Any) -> None:
        print(f"  stage {self.name} stops ({reason})")


class Pipeline(parent.Parent):
    def init(self) -> None:
        for name in ["reader", "parser", "writer"]:  # started in this order
            self.start_child({"id": name, "start": (Stage.start_link, [name])})

    def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case "flush":
                # a one-off child, awaited right here: handle_child_terminated won't run
                self.start_child({"id": "flush", "start": (Task.start_link, [time.sleep, 0.05])})
                done = self.await_child_termination("flush", timeout=1.0)
                if done is None:  # still running after 1 s (and it keeps running)
                    return "still running"
                _pid, _meta, reason = done
                return reason
            case "restart_parser":
                self.shutdown_child("parser")  # returns once the child is dead
                self.start_child({"id": "parser", "start": (Stage.start_link, ["parser"])})
                return [id for id, _pid, _meta in self.children()]
            case _:
                raise ValueError(request)

    def terminate(self, reason: Any) -> None:
        # the children are still running here; they are stopped after terminate returns
        print(f"pipeline terminate({reason!r}) with {self.num_children()} children")


# --8<-- [end:pipeline]


def run_pipeline() -> None:
    # --8<-- [start:run_pipeline]
    pipeline = Pipeline.start_link()
    print("flush ->", gen_server.call(pipeline, "flush"))
    print("children ->", gen_server.call(pipeline, "restart_parser"))
    gen_server.stop(pipeline)
    # --8<-- [end:run_pipeline]


def run_client() -> None:
    # --8<-- [start:client]
    pipeline = Pipeline.start_link()
    # from this plain thread: each call runs the Parent's own method in its process
    print("ids:", [id for id, _pid, _meta in parent.Client.children(pipeline)])
    parent.Client.start_child(pipeline, {"id": "audit", "start": (Stage.start_link, ["audit"])})
    parent.Client.shutdown_child(pipeline, "parser")
    print("ids:", [id for id, _pid, _meta in parent.Client.children(pipeline)])
    print("audit running:", parent.Client.child_pid(pipeline, "audit") is not None)
    gen_server.stop(pipeline)
    # --8<-- [end:client]


def main() -> None:
    run_jobs()
    run_pipeline()
    run_client()


if __name__ == "__main__":
    main()
