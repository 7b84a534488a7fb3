/**
 * A module worker around TopicHub (for hub_workerd_test.ts), over a fake store whose region log
 * `/write?t=` appends a topic message to, as another instance of the region would (the hub is not
 * told). `/next?s=&ms=` subscribes to subject `s` and waits up to `ms` for one event.
 */
import { fakeLogStore } from "../support/fake_log_store.ts";
import { hubWorker } from "../support/hub_worker.ts";

const { store, append } = fakeLogStore();

export default hubWorker(store, append, 50);
