// The gpu worker's devices: with `queues.gpu.slots: N` on a machine with several GPUs, each job gets a
// device of its own (CUDA_VISIBLE_DEVICES for a trainer process, the device ordinal for an in-process
// encoder session) instead of every job landing on cuda:0. Devices come from `queues.gpu.devices`,
// else from the worker's own CUDA_VISIBLE_DEVICES, else from `nvidia-smi -L`; none = CPU only, and
// nothing is set. With more slots than devices, a job goes to the least busy device.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface DeviceLease {
  /** The id a child process gets as CUDA_VISIBLE_DEVICES (an index as nvidia-smi numbers them, or a GPU UUID). */
  readonly visible: string;
  /** The device's ordinal inside this process (for an in-process CUDA session). */
  readonly ordinal: number;
  release(): void;
}

export class DevicePool {
  private readonly busy: number[];

  /**
   * `devices`: ids as CUDA_VISIBLE_DEVICES takes them. `processVisible`: the worker's own
   * CUDA_VISIBLE_DEVICES, by which in-process ordinals are numbered.
   */
  constructor(
    readonly devices: readonly string[],
    private readonly processVisible?: string,
  ) {
    if (devices.length === 0) throw new Error('a device pool needs at least one device');
    this.busy = devices.map(() => 0);
  }

  /** Jobs currently on each device, in `devices` order (what tests and logs look at). */
  load(): number[] {
    return [...this.busy];
  }

  private lease(i: number): DeviceLease {
    this.busy[i]! += 1;
    let released = false;
    const visible = this.devices[i]!;
    const own = this.processVisible?.split(',').map((s) => s.trim()).filter(Boolean);
    const ordinal = own && own.length ? Math.max(0, own.indexOf(visible)) : Number.isInteger(Number(visible)) ? Number(visible) : i;
    return {
      visible,
      ordinal,
      release: () => {
        if (released) return;
        released = true;
        this.busy[i]! -= 1;
      },
    };
  }

  /** The least busy device (the first of equals), leased until `release`. */
  acquire(): DeviceLease {
    let best = 0;
    for (let i = 1; i < this.busy.length; i++) if (this.busy[i]! < this.busy[best]!) best = i;
    return this.lease(best);
  }

  /** Marks `visible` as used by a job this process did not start (a trainer re-attached to). */
  claim(visible: string | undefined): DeviceLease | undefined {
    if (visible === undefined) return undefined;
    const i = this.devices.indexOf(visible.trim());
    return i < 0 ? undefined : this.lease(i);
  }
}

/** GPUs as nvidia-smi lists them (indices), or none when it is absent or fails. */
export function detectGpus(run: () => string = () => execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] })): string[] {
  let out: string;
  try {
    out = run();
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => /^GPU\s+(\d+):/.exec(l.trim())?.[1])
    .filter((x): x is string => x !== undefined);
}

/**
 * The gpu worker's pool: the configured devices, else the worker's own CUDA_VISIBLE_DEVICES (it was
 * given those), else what nvidia-smi finds; undefined on a machine without GPUs.
 */
export function devicePoolFor(configured: ReadonlyArray<number | string> | undefined, env: NodeJS.ProcessEnv, detect: () => string[] = () => detectGpus()): DevicePool | undefined {
  const own = env.CUDA_VISIBLE_DEVICES;
  let devices: string[];
  if (configured && configured.length) devices = configured.map(String);
  else if (own !== undefined) devices = own.split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== '-1');
  else devices = detect();
  return devices.length ? new DevicePool(devices, own) : undefined;
}

/** The CUDA_VISIBLE_DEVICES a running process was started with (Linux /proc), for a re-attached trainer. */
export async function visibleDevicesOf(pid: number): Promise<string | undefined> {
  try {
    const env = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
    const line = env.find((l) => l.startsWith('CUDA_VISIBLE_DEVICES='));
    return line?.slice('CUDA_VISIBLE_DEVICES='.length);
  } catch {
    return undefined;
  }
}
