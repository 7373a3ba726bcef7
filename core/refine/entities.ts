// The entities refine works on and what their prompts may show. No leakage (docs/DESIGN.md): a user's
// prompt renders only that user's latest K training-part interactions; an item's prompt its title
// and the latest K training-part interactions (other than this item) of the item's liking and
// disliking users, who are themselves chosen from training-part ratings only. Everything here reads
// the dataset through core/data's training-part helpers, never the test arrays. With a knowledge
// cutoff the "training part" is each user's prefix below the cutoff (knowledgePrefix), so the
// knowledge never describes the labels the CTR model trains on after it.
import type { Domain } from '../../config/names';
import type { DatasetView } from '../data/dataset';
import { itemSampleUsers, latestTrainingInteractions, trainingInteractionCount, type Interaction, type ItemRaterIndex, type Sequences } from '../data/history';
import type { DatasetItem } from '../data/meta';
import type { EntitySample } from '../rules/refine';

export type Medium = 'movie' | 'book';

export function mediumOf(kind: DatasetView['meta']['kind']): Medium {
  return kind === 'amazon-books' ? 'book' : 'movie';
}

/** Movies are shown as "Title (YEAR)" (MovieLens titles carry it already); books by their title. */
export function promptTitle(item: Pick<DatasetItem, 'title' | 'year'>, medium: Medium): string {
  if (medium === 'book' || item.year === null || /\(\d{4}\)\s*$/.test(item.title)) return item.title;
  return `${item.title} (${item.year})`;
}

export interface RefineEntityRef {
  entityId: string;
  /** Row in the dataset index: user u, or item i (1-based). */
  index: number;
}

export interface EntityListOptions {
  historyLength: number;
  /** Users with fewer training interactions are approximated (0 = everyone is active). */
  activeUserMinInteractions: number;
  /** Knowledge cutoff f: samples show only positions below floor(f · train_end) of each user's sequence (0 or absent: the whole training part). */
  knowledgeCutoff?: number | undefined;
}

/** One domain's entity set in a fixed order, with the sample each prompt is built from. */
export class RefineEntities {
  private constructor(
    readonly view: DatasetView,
    readonly domain: Domain,
    readonly opts: EntityListOptions,
    private readonly seq: Sequences,
    private readonly raters: ItemRaterIndex | undefined,
    private readonly items: number[] | undefined,
  ) {}

  static async open(view: DatasetView, domain: Domain, opts: EntityListOptions): Promise<RefineEntities> {
    const f = opts.knowledgeCutoff ?? 0;
    const seq = await view.knowledgeSequences(f);
    if (domain === 'user') return new RefineEntities(view, domain, opts, seq, undefined, undefined);
    return new RefineEntities(view, domain, opts, seq, await view.knowledgeRaters(f), view.entityItems());
  }

  get medium(): Medium {
    return mediumOf(this.view.meta.kind);
  }

  /** The user entity set is every user with samples; the item set every item with a training interaction. */
  get total(): number {
    return this.domain === 'user' ? this.view.meta.users.length : this.items!.length;
  }

  at(position: number): RefineEntityRef {
    if (position < 0 || position >= this.total) throw new RangeError(`${this.domain} entity ${position} is outside 0..${this.total - 1}`);
    if (this.domain === 'user') return { entityId: this.view.meta.users[position]!, index: position };
    const index = this.items![position]!;
    return { entityId: this.view.item(index).id, index };
  }

  /** Active-user strategy: only users with enough training interactions get full inference. */
  isActive(index: number): boolean {
    if (this.domain === 'item' || this.opts.activeUserMinInteractions <= 0) return true;
    return trainingInteractionCount(this.seq, index) >= this.opts.activeUserMinInteractions;
  }

  private entries(list: Interaction[]): Array<{ title: string; rating: number }> {
    return list.map((x) => ({ title: promptTitle(this.view.item(x.item), this.medium), rating: x.rating }));
  }

  sample(index: number): EntitySample {
    const k = this.opts.historyLength;
    const likeThreshold = this.view.meta.labelThreshold;
    if (this.domain === 'user') {
      return { domain: 'user', medium: this.medium, likeThreshold, history: this.entries(latestTrainingInteractions(this.seq, index, k)) };
    }
    const sides = itemSampleUsers(this.seq, this.raters!, index, likeThreshold, k);
    return {
      domain: 'item',
      medium: this.medium,
      likeThreshold,
      title: promptTitle(this.view.item(index), this.medium),
      likeHistory: sides.liking ? this.entries(sides.liking.history) : null,
      dislikeHistory: sides.disliking ? this.entries(sides.disliking.history) : null,
    };
  }
}
